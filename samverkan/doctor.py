"""``samverkan doctor``: checks every channel, the state folder and the alerts without
publishing anything, and says what to do about each problem.

The channel checks are the publishers' own (the optional ``check()`` of
:mod:`publishers.base`); the daemon runs the same ones ahead of each delivery
(:class:`samverkan.alerts.AheadChecker`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .problems import InvalidInput

if TYPE_CHECKING:
    from publishers.base import CheckResult

    from .loading import Project

LOW_DISK = 100 * 1024 * 1024  # below this the state folder gets a warning
NO_DISK = 10 * 1024 * 1024  # below this the ledger may fail to record a publication


@dataclass(frozen=True)
class Finding:
    channel: str  # a channel's name, or "state", "alerts", "plan"
    result: CheckResult

    def line(self) -> str:
        r = self.result
        status = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}[r.status]
        text = f"{status:<4}  {self.channel}: " + (f"{r.what}: " if r.what else "") + r.message
        return text + (f" -> {r.fix}" if r.fix else "")

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, **self.result.as_dict()}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when something would fail."""
        return not any(f.result.status == "fail" for f in self.findings)

    def count(self, status: str) -> int:
        return sum(f.result.status == status for f in self.findings)

    def text(self) -> str:
        lines = [f.line() for f in self.findings]
        lines.append(f"{self.count('ok')} ok, {self.count('warn')} warning(s), {self.count('fail')} failure(s)")
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [f.as_dict() for f in self.findings]}


def load(root: Path) -> Project:
    """The project, or InvalidInput when config.yaml does not validate (campaign files may
    have errors: the doctor looks at channels, not at campaigns)."""
    from .loading import CONFIG_FILE, load_project

    project = load_project(root)
    config_errors = [p for p in project.problems.errors if p.file == CONFIG_FILE]
    if project.config is None or config_errors:
        raise InvalidInput(config_errors or project.problems.sorted())
    return project


def channel_checks(project: Project, channel: str, *, env: Mapping[str, str] | None = None,
                   clock: Callable[[], datetime] | None = None) -> list[CheckResult]:
    """The checks of one channel by its publisher (none if it has no ``check()``), at the
    time ``clock`` gives (``--now``; default: the real time). A check that raises is a
    failure of its own, never a crash of the caller."""
    from publishers.base import Channel, CheckResult, get

    from .alerts import scrub, secret_values

    env = os.environ if env is None else env
    settings = project.channel_settings.get(channel)
    if settings is None:
        return [CheckResult.fail("settings", f"channel {channel} is not configured or its settings do not validate",
                                 "run samverkan validate")]
    try:
        where = Channel(channel, settings, project.root, env) if clock is None else \
            Channel(channel, settings, project.root, env, clock=clock)
        publisher = get(settings.publisher)(where)
        check = getattr(publisher, "check", None)
        if check is None:
            return [CheckResult.ok("checks", f"publisher {settings.publisher} has nothing to check")]
        return list(check())
    except Exception as exc:  # a plugin's bug must not hide the other channels' results
        said = scrub(f"{type(exc).__name__}: {exc}", secret_values(project, env))
        return [CheckResult.fail("checks", f"the check itself failed ({said})",
                                 f"report it to the maintainers of publisher {settings.publisher}")]


def state_checks(project: Project) -> list[CheckResult]:
    """The state folder has room, and the ledger opens (read only: the doctor migrates nothing)."""
    from publishers.base import CheckResult

    from .ledger import MIGRATIONS

    assert project.config is not None
    path = project.root / project.config.state
    out: list[CheckResult] = []
    existing = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return [CheckResult.fail("folder", f"no folder for the ledger at {path.parent}", "fix state: in config.yaml")]
    free = shutil.disk_usage(existing).free
    room = f"{free / 1024**3:.1f} GB free in {existing}" if free >= 1024**3 else f"{free // 1024**2} MB free in {existing}"
    if free < NO_DISK:
        out.append(CheckResult.fail("disk", room, "make room: the ledger must record every publication"))
    elif free < LOW_DISK:
        out.append(CheckResult.warn("disk", room, "make room before the disk fills up"))
    else:
        out.append(CheckResult.ok("disk", room))
    if not path.exists():
        if os.access(existing, os.W_OK | os.X_OK):
            out.append(CheckResult.ok("ledger", f"no ledger yet; {path} is made at the first run"))
        else:
            out.append(CheckResult.fail("ledger", f"no ledger yet, and {existing} cannot be written",
                                        "let the daemon's user write there, or change state: in config.yaml"))
        return out
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return [*out, CheckResult.fail("ledger", f"{path} does not open: {exc}",
                                       "restore it from the backup; never delete it (it is the record of what was published)")]
    if verdict != "ok":
        out.append(CheckResult.fail("ledger", f"{path} is damaged ({verdict})", "restore it from the backup"))
    elif version > len(MIGRATIONS):
        out.append(CheckResult.fail("ledger", f"{path} was made by a newer samverkan (schema {version})",
                                    "upgrade samverkan on this machine"))
    elif not os.access(path, os.W_OK):
        out.append(CheckResult.fail("ledger", f"{path} opens but cannot be written", "let the daemon's user write it"))
    else:
        out.append(CheckResult.ok("ledger", f"{path} opens (schema {version})"))
    return out


def doctor(project: Project, *, env: Mapping[str, str] | None = None,
           clock: Callable[[], datetime] | None = None) -> Report:
    """Every check: the plan's state folder and ledger, the alerts, then each channel
    (at the time ``clock`` gives: ``--now``)."""
    from . import alerts

    report = Report()
    assert project.config is not None
    if project.broken:
        from publishers.base import CheckResult

        report.findings.append(Finding("plan", CheckResult.warn(
            "campaigns", f"{len(project.broken)} campaign file(s) do not validate and are not published",
            "run samverkan validate")))
    report.findings += [Finding("state", r) for r in state_checks(project)]
    report.findings += [Finding("alerts", r) for r in alerts.validate(project)]
    for channel in project.config.channels:
        report.findings += [Finding(channel, r) for r in channel_checks(project, channel, env=env, clock=clock)]
    return report
