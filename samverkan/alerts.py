"""Alerts: telling a person, once, when something needs one.

Events that need a person: a delivery ``failed``, ``unknown`` (a crash while sending),
``missed`` (too late to publish), ``held`` near its time, and a channel ``check`` that
fails ahead of a delivery. Each alert names the delivery (or channel), the reason and the
command that fixes or settles it. ``config.yaml``'s ``alerts:`` says who is told: e-mail
through a mailer channel's server, and/or a command.

An event is alerted once while it lasts: the ledger's ``alerts`` table remembers it by
kind, subject and reason, and the event is closed (may be alerted again) only when it is
over (the delivery left that state, the channel's check passed again).

Alerts are sent from a thread of their own (see :class:`Alerter`): a mail server that does not
answer never delays a delivery.

Alerts never hold secrets: publishers' messages hold none, and every value of an
environment variable that config.yaml names (``${NAME}``) is blanked out of the text as a
second guard; the alert command's environment goes without those variables.
"""

from __future__ import annotations

import bisect
import logging
import os
import queue
import re
import shlex
import shutil
import sqlite3
import subprocess
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .pauses import PAUSED_NOTE
from .publishing import APPROVAL_NOTE, BROKEN_NOTE
from .timeutil import parse_duration, utc

if TYPE_CHECKING:
    from publishers.base import CheckResult

    from .ledger import Ledger, Row
    from .loading import Project
    from .plan import Delivery

log = logging.getLogger("samverkan")

DELIVERY_KINDS = ("failed", "unknown", "missed", "held", "retrying")
KINDS = (*DELIVERY_KINDS, "check", "daemon")
# A delivery whose tries have failed this many times in a row is told to a person while the
# daemon goes on trying (a full disk, a feed folder that cannot be written): one blip is not.
RETRYING_AFTER = 2
RETRY_EVERY = timedelta(minutes=10)  # how often an alert that could not be sent is tried again
COMMAND_TIMEOUT = 60.0  # seconds an alert command may take
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEY = re.compile(r"token|password|passwd|secret|key|user|login|auth|credential", re.IGNORECASE)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SEP = "\x1f"  # between the parts of an alert's key; cannot occur in ids or reasons we write


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str  # the delivery id, or the channel name of a check
    reason: str
    fix: str | None
    at: datetime
    due: datetime | None = None

    @property
    def key(self) -> str:
        return _SEP.join((self.kind, self.subject, self.reason))

    @property
    def title(self) -> str:
        what = {"failed": "failed", "unknown": "may or may not have gone out", "missed": "missed",
                "held": "held", "check": "channel check failed", "daemon": "needs a person",
                "retrying": "failing, tried again"}[self.kind]
        return f"samverkan: {self.subject}: {what}"

    def text(self, tz: Any) -> str:
        lines = [self.title, "", f"What happened: {self.reason}"]
        if self.kind == "check":
            lines.append(f"Channel: {self.subject}")
        elif self.kind == "daemon":
            lines.append(f"Daemon: {self.subject}")
        else:
            lines.append(f"Delivery: {self.subject}")
        if self.due is not None:
            lines.append(f"Due: {_local(self.due, tz)}")
        if self.fix:
            lines.append(f"What to do: {self.fix}")
        lines.append(f"Noticed: {_local(self.at, tz)}")
        return "\n".join(lines) + "\n"


def _local(when: datetime, tz: Any) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def fix_for(kind: str, row: Row) -> str:
    """The command that fixes or settles a delivery in this state."""
    did = row.id
    if kind == "unknown":
        return (f"look on the channel whether it went out, then settle it: "
                f"samverkan resolve {did} --as published|failed")
    if kind == "missed":
        return f"if it should still go out: samverkan publish {did}"
    if kind == "retrying":
        return "the daemon tries again by itself; fix the cause above to let it through"
    if kind == "held":
        note = row.note or ""
        m = re.match(re.escape(APPROVAL_NOTE) + r" by (.+)$", note)
        if m:
            parties = [p.strip() for p in m.group(1).split(",") if p.strip()]
            return "; ".join(f"samverkan approve {row.campaign}/{row.message} --party {p} --by NAME" for p in parties)
        if note.startswith(BROKEN_NOTE):
            return "samverkan validate, then fix the campaign file; it is published when it validates"
        if note.startswith(PAUSED_NOTE):
            return "when publishing may go on: samverkan resume (or Återuppta on the press desk)"
        return f"once the channel works again: samverkan publish {did}"
    return f"fix the cause above, then: samverkan publish {did}"


def _kind(row: Row) -> str:
    return "retrying" if row.state == "pending" else row.state


def _reason(kind: str, row: Row) -> str:
    if kind == "held":
        note = row.note or ""
        if note.startswith((APPROVAL_NOTE, BROKEN_NOTE)):
            return note
        return row.last_error or note or "held"
    if kind in ("failed", "retrying"):
        return row.last_error or row.note or kind
    if kind == "unknown" and not (row.note or row.last_error):  # left in flight by a process that died
        return "the process sending it stopped before it could record whether it went out"
    return row.note or row.last_error or kind


@dataclass(frozen=True)
class OpenAlert:
    """An alerted event that is not over yet, as the ledger keeps it."""

    kind: str
    subject: str
    reason: str
    fix: str | None
    at: datetime
    state: str  # sent, pending (not sent yet), queued (for the digest), sending
    last_error: str | None  # why it could not be sent, if it could not


def open_alerts(ledger: Ledger, kind: str | None = None) -> list[OpenAlert]:
    """The open alerts (of ``kind``), oldest first. Read only: for ``samverkan status``."""
    sql = "SELECT kind, subject, reason, fix, at, state, last_error FROM alerts WHERE resolved_at IS NULL"
    args: tuple[Any, ...] = ()
    if kind is not None:
        sql += " AND kind = ?"
        args = (kind,)
    rows = ledger.read(sql + " ORDER BY seq", args)
    return [OpenAlert(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), r[5].split()[0], r[6]) for r in rows]


def secret_values(project: Project, env: Mapping[str, str]) -> list[str]:
    """The values of the environment variables that config.yaml's channels name as
    ``${NAME}`` for a credential (a token, a login, a password); not a host's name, which
    an alert needs to be of use."""
    names = set()
    if project.config is not None:
        for raw in project.config.channels.values():
            for key, value in raw.items():
                if isinstance(value, str) and _SECRET_KEY.search(str(key)):
                    names.update(_ENV_REF.findall(value))
    # Longest first, so a secret that contains another is blanked whole.
    return sorted({env[n] for n in names if env.get(n)}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if len(value) >= 4:  # a 1-3 character "secret" would blank ordinary words
            text = text.replace(value, "***")
    return text


def validate(project: Project) -> list[CheckResult]:
    """Whether ``alerts:`` can work: its mail channel exists and can send, its addresses are
    addresses, its command is found. For ``samverkan doctor`` (and the Alerter's start)."""
    from publishers.base import CheckResult, get

    assert project.config is not None
    alerts = project.config.alerts
    out: list[CheckResult] = []
    if alerts.mail is None and not alerts.command:
        return [CheckResult.warn("who", "nobody is alerted: failures are only logged",
                                 "add alerts: {mail: {channel: press, to: [you@example.org]}} to config.yaml")]
    if alerts.mail is not None:
        name = alerts.mail.channel
        settings = project.channel_settings.get(name)
        if name not in project.config.channels:
            known = ", ".join(project.config.channels) or "none"
            out.append(CheckResult.fail("mail", f"alerts.mail.channel: no channel '{name}' (known: {known})",
                                        "name a channel with publisher: mailer"))
        elif settings is None:
            out.append(CheckResult.fail("mail", f"alerts.mail.channel: the settings of {name} do not validate",
                                        "run samverkan validate"))
        elif getattr(get(settings.publisher), "notify", None) is None:
            out.append(CheckResult.fail("mail", f"alerts.mail.channel: {name} uses publisher {settings.publisher}, "
                                        "which cannot send e-mail", "name a channel with publisher: mailer"))
        bad = [a for a in alerts.mail.to if not _ADDRESS.match(a)]
        if bad:
            out.append(CheckResult.fail("mail", f"alerts.mail.to: {', '.join(map(repr, bad))} is not an e-mail address",
                                        "write plain addresses such as vakthavande@kommun.se"))
        if not any(r.status == "fail" for r in out):
            out.append(CheckResult.ok("mail", f"alerts by e-mail through {name} to {', '.join(alerts.mail.to)}"
                                      + (" (a daily digest)" if alerts.digest else "")))
    if alerts.command:
        try:
            program = shlex.split(alerts.command)[0]
        except (ValueError, IndexError):
            program = ""
        if not program:
            out.append(CheckResult.fail("command", "alerts.command cannot be read as a command", "fix its quoting"))
        elif shutil.which(program, path=os.environ.get("PATH")) is None and not (project.root / program).is_file():
            out.append(CheckResult.warn("command", f"alerts.command: '{program}' is not found on PATH",
                                        "give the full path of the program"))
        else:
            out.append(CheckResult.ok("command", f"alerts run {program}"))
    return out


class Alerter:
    """Sends each alert once, through ``alerts:`` of config.yaml, and remembers it in the ledger.

    The daemon calls :meth:`scan` after each tick (deliveries that need a person),
    :meth:`check_results` with the outcome of the checks ahead of time, and :meth:`flush`
    now and then (the daily digest, and alerts that could not be sent before).

    With ``background`` (the default) the sending happens in a thread of its own, one
    alert (or digest) after the other, so that these calls return at once even when the mail
    server does not answer; :meth:`join` lets what is being sent finish (before the ledger
    is closed). Without it (tests, tools) they send before they return.
    """

    def __init__(
        self,
        project: Project,
        ledger: Ledger,
        *,
        env: Mapping[str, str] | None = None,
        make_publisher: Callable[[str], Any] | None = None,
        background: bool = True,
    ) -> None:
        self.ledger = ledger
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._make = make_publisher
        self._last_retry: datetime | None = None
        self._last_digest_try: datetime | None = None
        self._background = background
        self._jobs: queue.Queue[Callable[[], Any] | None] = queue.Queue()
        self._busy = 0  # jobs handed to the sender and not finished yet
        self._busy_lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self._closed = False
        self._faults: set[str] = set()  # the daemon's own faults alerted and not over (see fault)
        self.project = project
        self.update(project)
        # A process that stopped while sending left its claims: they are sent again (a
        # possible second copy beats a lost alert).
        try:
            with ledger.transaction() as db:
                db.execute("UPDATE alerts SET state = substr(state, 9) WHERE state LIKE 'sending %'")
        except sqlite3.Error as exc:  # a broken ledger is the daemon's to report (see fault)
            log.warning("alerts: cannot read the ledger: %s", exc, extra={"event": "alert_failed", "delivery": "", "detail": str(exc)})

    def update(self, project: Project) -> None:
        """Use the reloaded plan's ``alerts:`` and channels from now on."""
        self.project = project
        assert project.config is not None
        self.settings = project.config.alerts
        self.tz = project.tz
        self._secrets = secret_values(project, self.env)
        for problem in validate(project):
            if problem.status == "fail":
                log.error("alerts: %s", problem.message, extra={"event": "invalid", "delivery": "", "detail": problem.message})

    # --- telling ------------------------------------------------------------------------------

    def alert(self, kind: str, subject: str, reason: str, fix: str | None = None, *,
              now: datetime, due: datetime | None = None) -> bool:
        """Alert the event unless it is alerted already and still open. True if it is new."""
        assert kind in KINDS, kind
        item = Alert(kind, subject, scrub(reason, self._secrets), scrub(fix, self._secrets) if fix else None, now, due)
        digest = self.settings.digest == "daily"
        routes = self._routes()
        # Nobody to tell (no alerts: in config.yaml): the log line below is all there is.
        state = ("queued " if digest else "pending ") + " ".join(routes) if routes else "sent"
        with self.ledger.transaction() as db:
            if db.execute("SELECT 1 FROM alerts WHERE key = ? AND resolved_at IS NULL", (item.key,)).fetchone():
                return False
            cur = db.execute(
                "INSERT INTO alerts (key, kind, subject, reason, fix, at, state, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item.key, kind, subject, item.reason, item.fix, _iso(now), state,
                 _iso(now) if not routes else None),
            )
            seq = int(cur.lastrowid or 0)
        log.error("alert %s %s: %s", kind, subject, item.reason,
                  extra={"event": "alert", "delivery": subject, "detail": item.reason})
        if routes and not digest:
            self._submit(lambda: self._deliver([(seq, item)], now))
        return True

    def fault(self, subject: str, reason: str, fix: str, *, now: datetime) -> bool:
        """Alert a fault of the daemon itself (the ledger cannot be written, the plan cannot
        be read), once while it lasts. Kept in memory and sent at once, not through the
        ledger, which may be what is broken. True if it is new."""
        item = Alert("daemon", subject, scrub(reason, self._secrets), scrub(fix, self._secrets), now)
        if item.key in self._faults:
            return False
        self._faults.add(item.key)
        log.error("alert daemon %s: %s", subject, item.reason,
                  extra={"event": "alert", "delivery": "", "detail": item.reason})
        routes = self._routes()

        def send() -> int:
            for route in routes:
                try:
                    (self._mail if route == "mail" else self._command)([item])
                except Exception as exc:  # an alert route that fails must not stop the daemon
                    detail = scrub(f"{route}: {exc}", self._secrets)
                    log.error("could not send an alert by %s: %s", route, detail,
                              extra={"event": "alert_failed", "delivery": "", "detail": detail})
            return 1

        if routes:
            self._submit(send)
        return True

    def fault_over(self, subject: str) -> None:
        """The daemon's fault ``subject`` is over: alerted again if it comes back."""
        self._faults = {k for k in self._faults if k.split(_SEP)[1] != subject}

    def resolve(self, kind: str, subject: str, now: datetime) -> int:
        """Close the open alerts of ``kind`` about ``subject``: the event is over."""
        with self.ledger.transaction() as db:
            cur = db.execute("UPDATE alerts SET resolved_at = ? WHERE kind = ? AND subject = ? AND resolved_at IS NULL",
                             (_iso(now), kind, subject))
            return int(cur.rowcount)

    def scan(self, now: datetime) -> int:
        """Alert every delivery that needs a person (held ones only within ``held_ahead`` of
        their time) and close alerts of deliveries that no longer do. Returns new alerts."""
        held_ahead = parse_duration(self.settings.held_ahead)
        rows = {r.id: r for r in self.ledger.rows(*DELIVERY_KINDS, "pending")
                if r.state != "pending" or (r.last_error and r.attempts >= RETRYING_AFTER)}
        open_ = self.ledger.read(
            f"SELECT kind, subject, key FROM alerts WHERE resolved_at IS NULL "
            f"AND kind IN ({','.join('?' * len(DELIVERY_KINDS))})", DELIVERY_KINDS,
        )
        known = {r["key"] for r in open_}  # most scans find nothing new: no write lock for them
        new = 0
        for row in rows.values():
            kind = _kind(row)
            if kind == "held" and utc(row.due_at) - utc(now) > held_ahead:
                continue
            reason = _reason(kind, row)
            if Alert(kind, row.id, scrub(reason, self._secrets), None, now).key in known:
                continue
            new += self.alert(kind, row.id, reason, fix_for(kind, row), now=now, due=row.due_at)
        for kind, subject in {(r["kind"], r["subject"]) for r in open_}:
            row = rows.get(subject)
            if row is None or _kind(row) != kind:
                self.resolve(kind, subject, now)
        return new

    def check_results(self, channel: str, results: list[CheckResult], now: datetime) -> int:
        """Alert each failing check of ``channel``; when none fails, close its check alerts."""
        failing = [r for r in results if r.status == "fail"]
        if not failing:
            self.resolve("check", channel, now)
            return 0
        new = 0
        for r in failing:
            fix = f"{r.fix}; then check with: samverkan doctor" if r.fix else "samverkan doctor shows the details"
            new += self.alert("check", channel, r.message, fix, now=now)
        return new

    def flush(self, now: datetime) -> int:
        """Send what is due: the daily digest, and (every few minutes) alerts that could not
        be sent before. Returns how many alerts went out (in the background: how many were
        handed to the sender)."""
        sent = 0
        if self.settings.digest == "daily":
            sent += self.flush_digest(now)
        if self._busy:
            return sent  # the sender is still at work (a slow server): retries wait for it
        # In UTC: on the night the clocks go back, zoned wall times repeat an hour.
        if self._last_retry is None or utc(now) - utc(self._last_retry) >= RETRY_EVERY:
            self._last_retry = now
            pending = self._rows("pending")
            if pending:
                sent += self._submit(lambda: self._deliver(pending, now, one_each=True), len(pending))
        return sent

    def flush_digest(self, now: datetime, *, force: bool = False) -> int:
        """With ``digest: daily``: once a day at ``digest_at`` (at once with ``force``), one
        mail with every alert queued since the last digest. Returns how many it held (in the
        background: how many were handed to the sender)."""
        queued = self._rows("queued")
        if not queued:
            return 0
        local = now.astimezone(self.tz)
        today = local.date().isoformat()
        if not force:
            hh, mm = (int(x) for x in self.settings.digest_at.split(":"))
            if local.time() < time(hh, mm) or self.ledger.meta("alerts_digest_day") == today:
                return 0
            if self._last_digest_try is not None and utc(now) - utc(self._last_digest_try) < RETRY_EVERY:
                return 0  # the last try failed a moment ago: do not hammer the server
            if self._busy:
                return 0  # the sender is still at work; the next flush hands it over
        self._last_digest_try = now

        def job() -> int:
            sent = self._deliver(queued, now)
            if sent == len(queued):  # else it is tried again in a while, the same day
                self.ledger.set_meta("alerts_digest_day", today)
            return sent

        return self._submit(job, len(queued))

    def join(self, timeout: float | None = None) -> bool:
        """Let the sender finish what it was handed (the alert in flight first), waiting at
        most ``timeout`` seconds; after that nothing more is sent by this Alerter. Call it
        before closing the ledger. What was not sent stays in the ledger and is sent by the
        next process. True if the sender has finished."""
        thread = self._sender
        if thread is None or not thread.is_alive():
            self._closed = True
            return True
        self._jobs.put(None)
        thread.join(timeout)
        self._closed = True  # a sender that is still stuck sends nothing after this
        return not thread.is_alive()

    # --- internals -----------------------------------------------------------------------------

    def _submit(self, job: Callable[[], int], handed: int = 1) -> int:
        """Run ``job`` (a send) now, or hand it to the sender thread. Returns what the job
        returned, or ``handed`` when it runs in the background."""
        if not self._background:
            return job()
        if self._closed:
            return 0  # shutting down: what is unsent stays pending in the ledger
        with self._busy_lock:
            self._busy += 1
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(target=self._send_loop, name="samverkan-alerts", daemon=True)
                self._sender.start()
        self._jobs.put(job)
        return handed

    def _send_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                if not self._closed:
                    job()
            except sqlite3.ProgrammingError:  # the ledger was closed without join()
                log.warning("the ledger was closed before an alert was sent; it is sent at the next start",
                            extra={"event": "alert_failed", "delivery": "", "detail": ""})
            except Exception:  # the alert stays in the ledger
                log.exception("sending an alert failed", extra={"event": "alert_failed", "delivery": "", "detail": ""})
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def _routes(self) -> list[str]:
        routes = []
        if self.settings.mail is not None:
            routes.append("mail")
        if self.settings.command:
            routes.append("command")
        return routes

    def _rows(self, state: str) -> list[tuple[int, Alert]]:
        rows = self.ledger.read(
            "SELECT seq, kind, subject, reason, fix, at FROM alerts WHERE (state = ? OR state LIKE ?) "
            "AND resolved_at IS NULL ORDER BY seq", (state, state + " %"),
        )
        return [(r[0], Alert(r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]))) for r in rows]

    def _deliver(self, items: list[tuple[int, Alert]], now: datetime, *, one_each: bool = False) -> int:
        """Send ``items`` by every route each still waits for; record what went out."""
        # Claim the rows first: the checks ahead run in a thread of their own, and two
        # threads must never send the same alert.
        states: dict[int, str] = {}
        with self.ledger.transaction() as db:
            for seq, _ in items:
                state = db.execute("SELECT state FROM alerts WHERE seq = ?", (seq,)).fetchone()[0]
                if state.split()[0] in ("pending", "queued"):
                    states[seq] = state
                    db.execute("UPDATE alerts SET state = ? WHERE seq = ?", (f"sending {state}", seq))
        items = [(seq, a) for seq, a in items if seq in states]
        waiting = {seq: set(states[seq].split()[1:]) for seq, _ in items}
        done: set[int] = set()
        errors: dict[int, str] = {}
        for route in ("mail", "command"):
            todo = [(seq, a) for seq, a in items if route in waiting[seq]]
            groups = [[x] for x in todo] if one_each else [todo] if todo else []
            for group in groups:
                try:
                    (self._mail if route == "mail" else self._command)([a for _, a in group])
                except Exception as exc:  # an alert route that fails must not stop the daemon
                    detail = scrub(f"{route}: {exc}", self._secrets)
                    log.error("could not send an alert by %s: %s", route, detail,
                              extra={"event": "alert_failed", "delivery": "", "detail": detail})
                    for seq, _ in group:
                        errors[seq] = detail
                    continue
                for seq, _ in group:
                    waiting[seq].discard(route)
        with self.ledger.transaction() as db:
            for seq, _ in items:
                left = sorted(waiting[seq])
                if left:
                    kind = states[seq].split()[0]
                    db.execute("UPDATE alerts SET state = ?, last_error = ? WHERE seq = ?",
                               (" ".join([kind, *left]), errors.get(seq), seq))
                else:
                    done.add(seq)
                    db.execute("UPDATE alerts SET state = 'sent', sent_at = ?, last_error = NULL WHERE seq = ?",
                               (_iso(now), seq))
        return len(done)

    def _text(self, alerts: list[Alert]) -> tuple[str, str]:
        if len(alerts) == 1:
            return alerts[0].title, alerts[0].text(self.tz)
        subject = f"samverkan: {len(alerts)} alerts"
        parts = [f"{len(alerts)} things need a person:", ""]
        parts += [f"{i}. {a.title.removeprefix('samverkan: ')}" for i, a in enumerate(alerts, 1)]
        for a in alerts:
            parts += ["", "-" * 60, a.text(self.tz).rstrip("\n")]
        return subject, "\n".join(parts) + "\n"

    def _mail(self, alerts: list[Alert]) -> None:
        mail = self.settings.mail
        assert mail is not None
        subject, text = self._text(alerts)
        pub = self._publisher(mail.channel)
        notify = getattr(pub, "notify", None)
        if notify is None:
            raise RuntimeError(f"channel {mail.channel} cannot send e-mail; name a mailer channel in alerts.mail.channel")
        note = notify(list(mail.to), scrub(subject, self._secrets), scrub(text, self._secrets))
        log.info("alert mailed: %s", note, extra={"event": "alert_sent", "delivery": "", "detail": str(note)})

    def _command(self, alerts: list[Alert]) -> None:
        assert self.settings.command
        _, text = self._text(alerts)
        env = {k: v for k, v in os.environ.items() if v not in self._secrets}
        env["SAMVERKAN_ALERT_KIND"] = alerts[0].kind if len(alerts) == 1 else "digest"
        env["SAMVERKAN_ALERT_DELIVERY"] = alerts[0].subject if len(alerts) == 1 and alerts[0].kind != "check" else ""
        env["SAMVERKAN_ALERT_SUBJECT"] = alerts[0].subject if len(alerts) == 1 else ""
        done = subprocess.run(self.settings.command, shell=True, input=scrub(text, self._secrets).encode("utf-8"),
                              env=env, cwd=self.project.root, capture_output=True, timeout=COMMAND_TIMEOUT)
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip()[-300:]
            raise RuntimeError(f"the alert command exited with {done.returncode}" + (f": {said}" if said else ""))

    def _publisher(self, channel: str) -> Any:
        if self._make is not None:
            return self._make(channel)
        from publishers.base import Channel, get

        settings = self.project.channel_settings.get(channel)
        if settings is None:
            raise RuntimeError(f"alerts.mail.channel: no valid channel '{channel}'")
        return get(settings.publisher)(Channel(channel, settings, self.project.root, self.env))


class AheadChecker:
    """Which channels to check now, so that a channel that would fail is found ahead of its
    delivery, not at publishing time: every channel that is still to be used, once a day;
    and each delivery's channel again when the delivery is ``check_ahead`` away (unless it
    was checked since then). Remembers, in memory, when it asked for each channel."""

    def __init__(self, check_ahead: timedelta, tz: Any) -> None:
        self.check_ahead = check_ahead
        self.tz = tz
        self.checked: dict[str, datetime] = {}
        self._thread: threading.Thread | None = None

    @classmethod
    def for_project(cls, project: Project) -> AheadChecker:
        assert project.config is not None
        return cls(parse_duration(project.config.alerts.check_ahead), project.tz)

    def update(self, project: Project) -> None:
        """Follow a reloaded config's ``check_ahead``; what was checked when is kept."""
        assert project.config is not None
        self.check_ahead = parse_duration(project.config.alerts.check_ahead)
        self.tz = project.tz

    def due_checks(self, now: datetime, plan: list[Delivery], times: list[datetime] | None = None) -> list[str]:
        """Channels to check now (and counted as checked now). ``plan``: sorted by time;
        ``times``: its times in UTC, if the caller keeps them (the daemon polls each second)."""
        # In UTC: zoned datetimes of one zone compare and add by wall time, which is an hour
        # off on the night the clocks go back.
        now_utc = utc(now)
        times = [utc(d.at) for d in plan] if times is None else times
        first = bisect.bisect_right(times, now_utc)
        today: date = now.astimezone(self.tz).date()
        due: set[str] = set()
        for channel in {d.channel for d in plan[first:]}:
            last = self.checked.get(channel)
            if last is None or last.astimezone(self.tz).date() < today:
                due.add(channel)
        for d in plan[first : bisect.bisect_right(times, now_utc + self.check_ahead)]:
            last = self.checked.get(d.channel)
            if last is None or utc(last) < utc(d.at) - self.check_ahead:
                due.add(d.channel)
        for channel in due:
            self.checked[channel] = now
        return sorted(due)

    def run(self, now: datetime, plan: list[Delivery], project: Project, alerter: Alerter | None = None, *,
            env: Mapping[str, str] | None = None, times: list[datetime] | None = None) -> list[tuple[str, CheckResult]]:
        """Run the checks :meth:`due_checks` names; alert the failures (and close the alerts
        of channels that pass again). Returns every (channel, result)."""
        return self._run_channels(now, self.due_checks(now, plan, times), project, alerter, env)

    def start(self, now: datetime, plan: list[Delivery], project: Project, alerter: Alerter | None = None, *,
              env: Mapping[str, str] | None = None, times: list[datetime] | None = None) -> threading.Thread | None:
        """As :meth:`run`, in a background thread, so that a slow server (an SMTP timeout)
        never delays a delivery. None when nothing is due or the last round still runs."""
        if self._thread is not None and self._thread.is_alive():
            return None
        channels = self.due_checks(now, plan, times)
        if not channels:
            return None

        def work() -> None:
            try:
                self._run_channels(now, channels, project, alerter, env)
            except Exception:  # e.g. the ledger closed under it at shutdown
                log.exception("the checks ahead of time failed", extra={"event": "check", "delivery": "", "detail": ""})

        self._thread = threading.Thread(target=work, name="samverkan-checks", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        """Wait for a round started by :meth:`start` (before closing the ledger)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_channels(self, now: datetime, channels: list[str], project: Project, alerter: Alerter | None,
                      env: Mapping[str, str] | None) -> list[tuple[str, CheckResult]]:
        from .doctor import channel_checks

        out: list[tuple[str, CheckResult]] = []
        for channel in channels:
            results = channel_checks(project, channel, env=env, clock=lambda: now)
            for r in results:
                if r.status != "ok":
                    log.log(logging.ERROR if r.status == "fail" else logging.WARNING, "check %s: %s: %s",
                            channel, r.status, r.message, extra={"event": "check", "delivery": channel, "detail": r.message})
            if alerter is not None:
                alerter.check_results(channel, results, now)
            out += [(channel, r) for r in results]
        return out
