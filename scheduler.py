"""The daemon: turns the plan into APScheduler jobs and publishes every delivery on time.

APScheduler is only the alarm clock: it holds one in-memory job per due time and wakes the
daemon then; the ledger alone decides whether anything is sent. YAML and the ledger are the
only persistent state, so a restart rebuilds the jobs from them (APScheduler's SQLAlchemy
store would pickle jobs and re-run finished one-shot jobs re-added after a restart).
"""

from __future__ import annotations

import bisect
import fcntl
import logging
import os
import signal
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from samverkan.alerts import AheadChecker, Alerter
from samverkan.approvalmail import ApprovalMailer
from samverkan.ledger import Ledger, ledger_trouble
from samverkan.loading import CONFIG_FILE, LoadCache, load_configured, load_project
from samverkan.plan import Delivery, deliveries
from samverkan.problems import Problem, SamverkanError
from samverkan.approvals import checker
from samverkan.publishing import BROKEN_NOTE, RECHECKED_NOTES, Publishing, event, fault, idempotent_publishers
from samverkan.timeutil import localize, utc

log = logging.getLogger("samverkan")

POLL_SECONDS = 1.0
# APScheduler keeps run times as float timestamps and may wake a few microseconds before
# the time itself; what is due within this much counts as due now.
EARLY = timedelta(milliseconds=20)
# While the ledger cannot be written (a full disk), the daemon tries again this often.
LEDGER_RETRY = timedelta(seconds=10)


class AlreadyRunning(SamverkanError):
    pass


def fingerprint(root: Path) -> tuple[Any, ...]:
    """What the daemon watches: config.yaml, campaigns/ and content/ (names, times, sizes)."""
    out = []
    for base in (root / CONFIG_FILE, root / "campaigns", root / "content"):
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        for p in paths:
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


def shifted_clock(start: datetime | None, tz: Any) -> Callable[[], datetime]:
    """The real clock, or one that started at ``start`` and runs at the real pace."""
    if start is None:
        return lambda: datetime.now(tz)
    # In UTC: adding a timedelta to a zoned datetime adds wall time, which is off by the
    # DST difference when the pretended date and today are on different sides of it.
    offset = start - datetime.now(timezone.utc)
    return lambda: (datetime.now(timezone.utc) + offset).astimezone(tz)


class StateLock:
    """One daemon per plan and per ledger.

    The lock is an exclusive flock on the plan's root folder itself: it cannot vanish under a
    running daemon the way ``state/`` can (deleting that folder took a lock file inside it
    along, and let a second daemon start on an empty ledger). A second flock, on a file
    beside the ledger, covers ledgers that several roots name (``state:`` outside the root)
    and tells the running daemon's pid."""

    def __init__(self, path: Path, root: Path | None = None):
        self.path = path
        self.root = root
        self._fd: int | None = None
        self._root_fd: int | None = None

    def _refuse(self, where: Path, pid: str) -> AlreadyRunning:
        return AlreadyRunning(
            f"another samverkan daemon (pid {pid or 'another process'}) is already running on {where}; "
            "only one may publish from the same plan and ledger. Stop it first, or use another state: in config.yaml"
        )

    def _pid(self) -> str:
        try:
            return self.path.read_text(errors="replace").strip()[:64]
        except OSError:
            return ""

    def refuse_if_held(self) -> None:
        """AlreadyRunning now if another daemon holds the plan's folder: before anything is
        opened or made (a refused daemon must not leave an empty ledger where one was)."""
        if self.root is None:
            return
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._refuse(self.root, self._pid()) from None
        finally:
            os.close(fd)  # (closing it lets the flock go: acquire takes it for good)

    def acquire(self) -> None:
        if self.root is not None:
            root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(root_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(root_fd)
                raise self._refuse(self.root, self._pid()) from None
            self._root_fd = root_fd
        try:
            from publishers.base import private_folder

            private_folder(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)  # in the ledger's folder, the owner's only like everything there
        except BaseException:
            self.release()
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            self.release()
            raise self._refuse(self.path.parent, other) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        for name in ("_fd", "_root_fd"):
            fd = getattr(self, name)
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                setattr(self, name, None)


class Daemon:
    """Publishes the plan on time. ``clock`` is injected (``--now``, tests)."""

    def __init__(self, root: Path, *, clock: Callable[[], datetime] | None = None, start_at: datetime | None = None,
                 env: Mapping[str, str] | None = None, poll: float = POLL_SECONDS):
        self.root = root
        self.cache = LoadCache()
        try:
            self.project = load_configured(root, self.cache)
        except SamverkanError:
            raise
        except Exception as exc:  # a file the loader cannot cope with: said, not a traceback
            raise SamverkanError(f"cannot read the plan: {fault(exc)}; run samverkan validate") from None
        self.tz = self.project.tz
        if start_at is not None and start_at.tzinfo is None:
            start_at = localize(start_at, self.tz)[0]  # --now in the plan's local time
        self.clock = clock or shifted_clock(start_at, self.tz)
        self.env = env
        self.poll = poll
        self.lock = StateLock(root / (self.project.config.state + ".lock"), root.resolve())
        self.lock.refuse_if_held()
        self.ledger = Ledger(root / self.project.config.state)
        self._ledger_id: tuple[int, int] | None = None  # (device, inode) of the ledger file
        self._lost: str | None = None  # why the ledger file is not the one opened, if it is not
        self._fault: str | None = None  # why the ledger cannot be used now, while it cannot
        self._retry_at: float | None = None  # (monotonic) when to tick again after a fault
        self._plan_fault = False
        self._lost_at: datetime | None = None
        self._refused: set[str] = set()  # deliveries said not to be sent, the ledger being lost
        self.stop = threading.Event()
        self._wake = threading.Event()  # set by APScheduler's jobs: something is due
        self._tick_lock = threading.Lock()
        self._fingerprint: tuple[Any, ...] = ()
        self._reported: set[Problem] = set()
        self._plan: list[Delivery] = []
        self._times: list[datetime] = []
        self._first_run: datetime | None = None
        self.scheduler: Any = None
        self.publishing = self._publishing()
        self.alerter: Alerter | None = None  # made in start(), once this daemon holds the lock
        self.ahead = AheadChecker.for_project(self.project)
        self.asking = ApprovalMailer(env)  # approval requests, reminders and their alerts
        self.results: list[str] = []  # every outcome of this run: published, failed, missed ...

    def _publishing(self) -> Publishing:
        made = Publishing(self.project, self.ledger, self.clock, env=self.env,
                          approvals=checker(self.project, self.ledger), stop=self.stop)
        old = getattr(self, "publishing", None)
        if old is not None:
            made.unrecorded = old.unrecorded  # sent, not recorded yet: not forgotten on a reload
        return made

    # --- the plan ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read what changed, report new problems, and reconcile jobs with the plan."""
        project = load_project(self.root, self.cache)
        if project.config is None:
            # config.yaml is broken: say so, and go on with the last good plan until it is mended
            self._report(project.problems)
            return
        assert self.project.config is not None
        fixed = {"state": self.project.config.state, "timezone": self.project.config.timezone}
        changed = [k for k, v in fixed.items() if getattr(project.config, k) != v]
        if changed:
            # The ledger and the clock are the daemon's for its life: switching ledgers under
            # a running daemon would forget what it published and let another daemon in.
            line, col = project.config_where(changed[0])
            problem = Problem("config.yaml", line, col, "error",
                              f"{changed[0]}: changed while the daemon runs; it goes on with "
                              f"{changed[0]}: {fixed[changed[0]]} until it is restarted (move the ledger "
                              "file along, or everything within catch_up is published again)")
            project.problems.append(problem)
            if "timezone" in changed:
                # The campaigns were read in the new zone: none of the new plan can stand,
                # so the last good one goes on, as with a broken config.yaml.
                self._report(project.problems)
                return
            project.config = project.config.model_copy(update=fixed)
        plan = deliveries(project)  # before anything changes: if it raises, the last plan stands
        self.project = project
        self.publishing = self._publishing()
        if self.alerter is not None:
            self.alerter.update(self.project)
        self.ahead.update(self.project)
        self._report(project.problems)
        self._plan = plan
        self._times = [utc(d.at) for d in self._plan]
        self._hold_broken()
        self._schedule()

    def _report(self, problems: list[Problem]) -> None:
        now = set(problems)
        for p in sorted(now - self._reported):
            log.log(logging.ERROR if p.severity == "error" else logging.WARNING, "%s", p,
                    extra={"event": "invalid", "delivery": "", "detail": str(p)})
        self._reported = now

    def _hold_broken(self) -> None:
        now = self.clock()
        for row in self.ledger.rows("pending", "held"):
            broken = row.campaign in self.project.broken
            if broken and row.state == "pending":
                note = f"{BROKEN_NOTE} ({self.project.broken[row.campaign]}); run samverkan validate"
                if self.ledger.set_state(row.id, "held", now, note=note, expect=("pending",)):
                    event("held", row.id, note, logging.WARNING)
            elif not broken and row.state == "held" and (row.note or "").startswith(BROKEN_NOTE):
                self.ledger.set_state(row.id, "pending", now, note="the campaign file validates again", expect=("held",), event="released")

    def first_run(self) -> datetime:
        # Recorded once in the ledger, and never changed: a write transaction each tick would
        # wait behind any other process's writes.
        if self._first_run is None:
            now = self.clock()
            first = datetime.fromisoformat(self.ledger.set_meta("first_run", now.isoformat(), only_if_missing=True))
            if utc(first) > utc(now):
                # Recorded by a run whose clock was ahead (a wrong clock at first boot): kept,
                # every delivery up to that time would be neither sent nor marked missed.
                log.warning("the ledger says the daemon first ran at %s, later than now (%s): the clock was "
                            "ahead then; counting from now", first.isoformat(timespec="seconds"),
                            now.isoformat(timespec="seconds"), extra={"event": "clock", "delivery": "", "detail": ""})
                first = datetime.fromisoformat(self.ledger.set_meta("first_run", now.isoformat()))
            self._first_run = first
        return self._first_run

    def _horizon(self) -> datetime:
        """Deliveries due before this were before the daemon's time: neither sent nor missed."""
        return utc(self.first_run()) - self.project.catch_up

    def _schedule(self) -> None:
        """One job per due time (and per retry time); remove jobs no longer wanted."""
        if self.scheduler is None:
            return
        from apscheduler.triggers.date import DateTrigger

        now = self.clock()
        offset = now - datetime.now(timezone.utc)
        # Only future times: what is already due is the tick's, and a job for a past time
        # would fire again at once after every tick.
        wanted = {d.at for d in self._plan[bisect.bisect_right(self._times, utc(now) + EARLY):]}
        try:
            retries = self.ledger.rows("pending")
        except sqlite3.Error:  # the tick reports it, and ticks again in a while
            retries = []
        wanted |= {r.next_retry for r in retries if r.next_retry and r.next_retry > utc(now) + EARLY}
        ids = {f"due-{t.astimezone(self.tz).isoformat()}": t for t in wanted}
        current = {job.id for job in self.scheduler.get_jobs()}
        grace = int(self.project.catch_up.total_seconds()) or 1
        for job_id in current - set(ids):
            self.scheduler.remove_job(job_id)
        for job_id in set(ids) - current:
            run_at = max(ids[job_id].astimezone(timezone.utc) - offset, datetime.now(timezone.utc))
            self.scheduler.add_job(self._wake.set, DateTrigger(run_date=run_at, timezone=self.tz), id=job_id,
                                   misfire_grace_time=grace, coalesce=True, max_instances=100)

    # --- publishing -------------------------------------------------------------------------

    def due(self, now: datetime) -> list[Delivery]:
        lo = bisect.bisect_left(self._times, self._horizon())
        hi = bisect.bisect_right(self._times, utc(now))
        return self._plan[lo:hi]

    def tick(self) -> int:
        """Publish what is due now, mark what is too late as missed. Returns the number sent.
        A ledger that cannot be used stops the tick (nothing is sent blind); it is tried again."""
        with self._tick_lock:
            if not self.ledger_intact():
                self._refuse_due()
                return 0
            try:
                sent = self._tick()
            except sqlite3.Error as exc:
                self._ledger_fault(exc)
                return 0
            if self._fault is not None:
                log.info("the ledger %s can be used again", self.ledger.path,
                         extra={"event": "ledger_mended", "delivery": "", "detail": ""})
                self._fault = None
                if self.alerter is not None:
                    self.alerter.fault_over("ledger")
            return sent

    def _tick(self) -> int:
        now = self.clock()
        self.publishing.record_unrecorded()
        rows = {r.id: r for r in self.ledger.rows()}
        sent = 0
        soon = utc(now) + EARLY  # in UTC: a zoned "now" + timedelta loses the second 02:30
        for d in self.due(soon):
            if self.stop.is_set():
                break
            row = rows.get(d.id)
            if row is not None and row.state in ("missed", "failed") and utc(row.due_at) != utc(d.at):
                row = self.publishing.ensure(d)  # moved in the YAML since it was missed: the new time counts
            if row is not None:
                if row.state == "held" and not (row.note or "").startswith(RECHECKED_NOTES):
                    continue
                if row.state not in ("pending", "held"):
                    continue
                if row.next_retry and row.next_retry > soon:
                    continue
            if utc(now) - utc(d.at) > self.project.catch_up:
                if row is None:
                    row = self.publishing.ensure(d)
                detail = f"due {d.at:%Y-%m-%d %H:%M}, more than {self.project.config.catch_up} ago; a person decides: samverkan publish {d.id}"
                if self.ledger.set_state(d.id, "missed", now, note=detail, expect=("pending", "held")):
                    event("missed", d.id, detail, logging.ERROR)
                    self.results.append("missed")
                continue
            if not self.ledger_intact():
                break
            try:
                outcome = self.publishing.publish(d)
            except sqlite3.Error:
                raise
            except Exception as exc:  # one delivery's fault is that delivery's failure
                outcome = self.publishing.crashed(d, exc)
            self.results.append(outcome.result)
            sent += outcome.result == "published"
        return sent

    # --- faults ------------------------------------------------------------------------------

    def _ledger_fault(self, exc: sqlite3.Error) -> None:
        """The ledger cannot be read or written: say so once, alert, and tick again in a while."""
        why = ledger_trouble(exc, self.ledger.path, LEDGER_RETRY)
        self._retry_at = time.monotonic() + LEDGER_RETRY.total_seconds()
        if why == self._fault:
            return
        self._fault = why
        log.error("%s", why, extra={"event": "ledger_fault", "delivery": "", "detail": why})
        if self.alerter is not None:
            self.alerter.fault("ledger", why, "see the message; the daemon goes on by itself once it is mended",
                               now=self.clock())

    def ledger_intact(self) -> bool:
        """Whether the ledger file is still the one this daemon opened; if it was removed or
        replaced, the daemon publishes nothing more (said once, and alerted)."""
        if self._lost is not None:
            return False
        if self._ledger_id is None:
            return True
        try:
            st = os.stat(self.ledger.path)
            what = None if (st.st_dev, st.st_ino) == self._ledger_id else "replaced by another file"
        except OSError:
            what = "removed"
        if what is None:
            return True
        self._lost = (f"the ledger {self.ledger.path} was {what} while the daemon ran; it publishes nothing more, "
                      "since it can no longer record what goes out. Put the ledger back (from a backup) and restart "
                      "the daemon; started on an empty ledger it would publish again what went out within catch_up")
        self._lost_at = utc(self.clock())
        log.critical("%s", self._lost, extra={"event": "ledger_lost", "delivery": "", "detail": self._lost})
        if self.alerter is not None:
            self.alerter.fault("ledger", self._lost, "restore the ledger file, then restart the daemon", now=self.clock())
        return False

    def _refuse_due(self) -> None:
        """Say of each delivery that falls due after the ledger was lost that it is not sent."""
        if self._lost_at is None:
            return
        now = utc(self.clock()) + EARLY
        for d in self._plan[bisect.bisect_right(self._times, self._lost_at):bisect.bisect_right(self._times, now)]:
            if d.id not in self._refused:
                self._refused.add(d.id)
                event("refused", d.id, "not published: the ledger file was removed or replaced (see above)", logging.ERROR)

    def safe_reload(self) -> None:
        """:meth:`reload`, whose failure keeps the last good plan and is reported."""
        try:
            self.reload()
        except sqlite3.Error as exc:
            self._ledger_fault(exc)
            return
        except Exception as exc:
            why = (f"cannot read the plan again: {fault(exc, self.publishing.secrets)}; the daemon goes on with the "
                   "plan it read last: run samverkan validate and mend what it shows")
            log.error("%s", why, extra={"event": "invalid", "delivery": "", "detail": why})
            if self.alerter is not None:
                self.alerter.fault("plan", why, "samverkan validate", now=self.clock())
            self._plan_fault = True
            return
        if self._plan_fault and self.alerter is not None:
            self.alerter.fault_over("plan")
        self._plan_fault = False

    # --- running ----------------------------------------------------------------------------

    def start(self) -> None:
        self.lock.acquire()
        try:
            st = os.stat(self.ledger.path)
            self._ledger_id = (st.st_dev, st.st_ino)
        except OSError:
            pass
        self.alerter = Alerter(self.project, self.ledger, env=self.env)
        redo = idempotent_publishers(self.project)
        try:
            for delivery_id in self.ledger.reap(self.clock(), everyone=True, redo_publishers=redo):
                row = self.ledger.get(delivery_id)
                if row and row.state == "unknown":
                    event("unknown", delivery_id, f"it was being sent when the daemon stopped; settle it: samverkan resolve {delivery_id} --as published|failed", logging.ERROR)
            self.first_run()
        except sqlite3.Error as exc:
            why = ledger_trouble(exc, self.ledger.path, None)
            self.alerter.fault("ledger", why, "see the message, then start the daemon again", now=self.clock())
            self.close()
            raise SamverkanError(why) from None

    def watch(self, *, background: bool = True) -> None:
        """Checks ahead of time (in a thread of their own) and alerts for what needs a person."""
        now = self.clock()
        if self.alerter is None or self._lost is not None or self._fault is not None:
            return  # the ledger the alerts are kept in is what is broken: said already
        try:
            if background:
                self.ahead.start(now, self._plan, self.project, self.alerter, env=self.env, times=self._times)
            else:
                self.ahead.run(now, self._plan, self.project, self.alerter, env=self.env, times=self._times)
            self.alerter.scan(now)
            self.alerter.flush(now)
            self.asking.start(now, self.project, self.ledger, background=background)
        except Exception as exc:  # alerting must never stop publishing
            detail = fault(exc, self.publishing.secrets)
            log.error("alerting failed: %s", detail, extra={"event": "alert_failed", "delivery": "", "detail": detail})

    def _on_signals(self) -> None:
        """SIGTERM and SIGINT: finish the delivery in flight, then stop."""

        def on_signal(*_: Any) -> None:
            # Only the stop flag, which the main thread never holds: the handler runs in the
            # main thread between two of its steps, and setting _wake there could wait
            # forever on the lock _wake.wait() or clear() was holding at that moment. The
            # main loop sees the flag within --poll.
            self.stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)

    def run_once(self) -> int:
        self.start()
        self._on_signals()
        try:
            self.safe_reload()
            sent = self.tick()
            self.watch(background=False)
            if self._fault is not None or self._lost is not None:
                self.results.append("failed")
            return sent
        finally:
            self.close()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        self.start()
        self._on_signals()
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            timezone=self.tz,
            daemon=True,
        )
        self.scheduler.start()
        code = 0
        try:
            self._fingerprint = fingerprint(self.root)
            self.safe_reload()
            changes = self._changes()  # (before the tick: see the loop)
            self.tick()  # catch up on what came due while the daemon was down
            self._schedule()
            self.watch()
            log.info("running: %d deliveries planned, %d campaign file(s) with errors", len(self._plan),
                     len(self.project.broken), extra={"event": "started", "delivery": "", "detail": ""})
            while not self.stop.is_set():
                woke = self._wake.wait(self.poll)
                if woke:  # cleared only when seen: a job firing after a timeout is not lost
                    self._wake.clear()
                if self.stop.is_set():
                    break
                if not self.scheduler._thread.is_alive():  # APScheduler 3 lets its loop die silently
                    log.critical("the scheduler's thread has died; exiting so the supervisor restarts the daemon",
                                 extra={"event": "crashed", "delivery": "", "detail": ""})
                    code = 1
                    break
                fp = fingerprint(self.root)
                if fp != self._fingerprint:
                    self._fingerprint = fp
                    self.safe_reload()
                    log.info("reloaded the plan", extra={"event": "reloaded", "delivery": "", "detail": ""})
                    woke = True
                if self._retry_at is not None and time.monotonic() >= self._retry_at:
                    self._retry_at = None  # the ledger could not be used: try again
                    woke = True
                # Another process's writes (an approval, a retry planned by hand) wake us.
                # Read before ticking: what is written during a tick is not lost among our
                # own writes, at the price of one tick with nothing to do after each.
                if (seen := self._changes()) != changes:
                    woke, changes = True, seen
                if woke:
                    # Publishing happens here, in the main thread, never in APScheduler's
                    # worker: its shutdown holds a lock that a job touching it would wait on.
                    self.tick()
                    self._schedule()
                self.watch()  # cheap when nothing is due: checks at most daily and before deliveries
        finally:
            if self.scheduler._thread.is_alive():
                self.scheduler.shutdown(wait=True)  # finishes the delivery in flight
            self.close()
        log.info("stopped", extra={"event": "stopped", "delivery": "", "detail": ""})
        return code

    def _changes(self) -> tuple[int, int]:
        try:
            return self.ledger.changes()
        except sqlite3.Error:
            return (-1, -1)  # the tick finds the fault and says it

    def close(self) -> None:
        self.ahead.join(timeout=60)  # a check round in flight queues its alerts first
        if self.alerter is not None:
            self.alerter.join(timeout=30)  # the alert in flight finishes; the rest wait in the ledger
        self.asking.join(timeout=30)
        self.ledger.close()
        self.lock.release()


def main(root: Path, *, once: bool = False, now: datetime | None = None, poll: float = POLL_SECONDS) -> int:
    """``samverkan run``: the daemon, or with ``once`` what is due now. ``now`` may be naive
    (local time of the plan's zone)."""
    daemon = Daemon(root, start_at=now, poll=poll)
    if once:
        daemon.run_once()
        # failed work is exit 1: a cron job or a supervisor sees it
        return 1 if any(r in ("failed", "missed") for r in daemon.results) else 0
    return daemon.run()
