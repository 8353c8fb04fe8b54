"""``samverkan rehearse``: the whole pipeline over a period with a simulated clock, every
channel writing files under one folder instead of the network: the dress rehearsal."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .i18n import N_, _
from .ledger import Ledger
from .loading import Project
from .plan import deliveries
from .publishing import Outcome, Publishing

# The results a rehearsal counts, as the summary's columns name them.
RESULTS = (N_("published"), N_("held"), N_("failed"), N_("refused"), N_("unknown"), N_("skipped"), N_("missed"))
LEDGER_FILE = "rehearsal.db"
REPORT_FILE = "rehearsal.json"


class SimClock:
    """A clock the rehearsal moves forward, delivery by delivery."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class FileSink:
    """Stands in for a publisher without ``rehearsal(folder)``: writes each payload's files."""

    def __init__(self, inner: Any, folder: Path):
        self.inner, self.folder = inner, folder

    def payload(self, message: Any) -> Any:
        return self.inner.payload(message)

    def publish(self, payload: Any, delivery_id: str, journal: Any) -> Any:
        from publishers.base import Receipt

        from publishers.base import write_private

        target = self.folder / delivery_id.replace("/", "__").replace("@", "_")
        for name, content in payload.files.items():
            write_private(target / name, content)
        write_private(target / "payload.json",
                      json.dumps(payload.fields, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
        return Receipt(note=f"wrote {target}")


def redirected(project: Project, out: Path) -> Any:
    """A publisher factory whose channels write under ``out/<channel>``, never the network:
    each publisher's own ``rehearsal(folder)``, or a :class:`FileSink` if it has none."""
    from publishers.base import Channel, get

    def make(channel: str) -> Any:
        settings = project.channel_settings[channel]
        folder = out / channel
        # No environment: a rehearsal must not find a token or a password to use.
        pub = get(settings.publisher)(Channel(channel, settings, project.root, {}, durable=False))
        rehearsal = getattr(pub, "rehearsal", None)
        return rehearsal(folder) if rehearsal is not None else FileSink(pub, folder)

    return make


@dataclass
class Summary:
    out: Path
    start: datetime
    end: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    unapproved: dict[str, list[str]] = field(default_factory=dict)  # id -> parties, had approval not been assumed
    seconds: float = 0.0

    def write_report(self, path: Path) -> None:
        """Every delivery: its result, and whether it lacked an approval."""
        # Written row by row: a year of a large plan is a hundred thousand rows.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # whatever the umask, and a report left by an earlier rehearsal too
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f'{{"from": "{self.start.isoformat()}", "to": "{self.end.isoformat()}", "deliveries": [\n')
            for i, o in enumerate(self.outcomes):
                row = {"delivery": o.delivery_id, "result": o.result, "detail": o.detail, "url": o.url,
                       "lacks_approval_of": self.unapproved.get(o.delivery_id, [])}
                f.write(("," if i else " ") + json.dumps(row, ensure_ascii=False) + "\n")
            f.write("]}\n")

    def table(self) -> str:
        by_channel: dict[str, Counter[str]] = {}
        for o in self.outcomes:
            channel = o.delivery_id.split("/")[2].split("@")[0]
            by_channel.setdefault(channel, Counter())[o.result] += 1
        results = sorted({o.result for o in self.outcomes} | {"published"})
        channel_word, total_word = _("channel"), _("total")
        head = f"{channel_word:<22}" + "".join(f"{_(r):>11}" for r in results)
        last = self.end - timedelta(days=1)  # the period is [start, end): show its last day
        lines = [_("Rehearsal {first} – {last}: {count} deliveries in {seconds} s").format(
            first=f"{self.start:%Y-%m-%d}", last=f"{last:%Y-%m-%d}", count=len(self.outcomes),
            seconds=f"{self.seconds:.1f}"), "", head]
        total: Counter[str] = Counter()
        for channel in sorted(by_channel):
            c = by_channel[channel]
            total.update(c)
            lines.append(f"{channel:<22}" + "".join(f"{c[r]:>11}" for r in results))
        lines.append(f"{total_word:<22}" + "".join(f"{total[r]:>11}" for r in results))
        problems = [o for o in self.outcomes if o.result not in ("published",)]
        if problems:
            lines += ["", _("Not published:")]
            lines += [f"  {o}" for o in problems[:50]]
            if len(problems) > 50:
                lines.append("  " + _("... and {count} more").format(count=len(problems) - 50))
        if self.unapproved:
            lines += ["", _("--assume-approved: {count} deliveries lack an approval and would have been held "
                            "(samverkan approvals lists them)").format(count=len(self.unapproved))]
        lines += ["", _("Outputs under {out}/ (one folder per channel); every delivery's result: "
                        "{report}; ledger: {ledger}").format(out=self.out, report=self.out / REPORT_FILE,
                                                              ledger=self.out / LEDGER_FILE)]
        return "\n".join(lines) + "\n"


def _copy_approvals(project: Project, ledger: Ledger) -> None:
    """The real ledger's approvals (read only), so the rehearsal holds what the daemon would."""
    import sqlite3

    assert project.config is not None
    real = project.root / project.config.state
    if not real.exists():
        return
    db = sqlite3.connect(f"file:{real}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT message_id, party, approved_by, note, content_hash, at FROM approvals ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        db.close()
    for mid, party, by, note, h, at in rows:
        ledger.approve(mid, party, by, note, h, datetime.fromisoformat(at))


def rehearse(project: Project, start: datetime, end: datetime, out: Path, *, assume_approved: bool = False) -> Summary:
    """Publish every delivery in ``[start, end)`` at its simulated time into ``out``.

    A delivery whose message lacks an approval (in the real ledger) is held, as the daemon
    would; with ``assume_approved`` it goes through and the summary says it would not have."""
    from publishers.base import private_folder

    from .approvals import checker

    private_folder(out)  # unpublished texts, and the ledger: the owner's only
    for old in out.glob(LEDGER_FILE + "*"):
        old.unlink()
    clock = SimClock(start)
    summary = Summary(out, start, end)
    t0 = time.perf_counter()
    with Ledger(out / LEDGER_FILE, durable=False) as ledger:
        _copy_approvals(project, ledger)
        check = checker(project, ledger)
        approvals = check
        if check is not None and assume_approved:
            def approvals(d: Any) -> list[str]:
                missing = check(d)
                if missing:
                    summary.unapproved[d.id] = missing
                return []

        publishing = Publishing(project, ledger, clock, env={}, make_publisher=redirected(project, out), approvals=approvals)
        publishing.check_all()
        with ledger.batch():
            for d in deliveries(project, start, end):
                clock.now = d.at
                summary.outcomes.append(publishing.publish(d))
        for pub in publishing.publishers():
            finish = getattr(pub, "finish", None)
            if finish is not None:
                finish()
    summary.write_report(out / REPORT_FILE)
    summary.seconds = time.perf_counter() - t0
    return summary
