"""The daemon as a real subprocess: started, read line by line, signalled and killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from tests.helpers.plans import TZ

REPO = Path(__file__).resolve().parents[2]


class DaemonProcess:
    def __init__(self, root: Path, now: str | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), argv: list[str] | None = None):
        cmd = argv or [sys.executable, "-m", "samverkan", "run"]
        cmd = cmd + ["--root", str(root), "--poll", "0.2", "--log-format", "json", *args]
        if now:
            cmd += ["--now", now]
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env or dict(os.environ), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.raw.append(line.rstrip("\n"))
                try:
                    self.lines.append(json.loads(line))
                except ValueError:
                    pass
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """The first log record matching ``predicate``; AssertionError with the log if none."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for rec in self.lines:
                    if predicate(rec):
                        return rec
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError("no such log line; the daemon said:\n" + "\n".join(self.raw))
                self._cond.wait(min(left, 0.5))

    def wait_event(self, event: str, delivery: str | None = None, timeout: float = 20) -> dict[str, Any]:
        return self.wait_for(lambda r: r.get("event") == event and (delivery is None or r.get("delivery") == delivery), timeout)

    def events(self, event: str) -> list[dict[str, Any]]:
        with self._cond:
            return [r for r in self.lines if r.get("event") == event]

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def wait(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Clock:
    """A clock a test sets by hand: ``Clock("2018-08-13T07:30")`` (local time of the plans)."""

    def __init__(self, text: str):
        self.now = datetime.fromisoformat(text).replace(tzinfo=TZ)

    def __call__(self) -> datetime:
        return self.now


def started_daemon(root: Path, clock: Clock | str, env: Mapping[str, str] | None = None) -> Any:
    """An in-process daemon (no scheduler thread) that holds the lock and has read the plan;
    the caller ticks it and closes it. ``env``: the daemon's environment (None: this process's)."""
    from scheduler import Daemon

    d = Daemon(root, clock=Clock(clock) if isinstance(clock, str) else clock, env=env)
    d.start()
    d.reload()
    return d


def tick_once(root: Path, now: str) -> Any:
    """What ``run --once`` does at ``now``, in-process."""
    d = started_daemon(root, now)
    try:
        d.tick()
    finally:
        d.close()
    return d
