"""Pauses: a person stops publishing on one channel or on all of them, and starts it again.

The ledger's ``pauses`` table is a log of ``pause`` and ``resume`` records, never changed
afterwards (who, when, why, and how: the command line or the desk). What is paused now is
read from it before every delivery (:func:`paused_note`), so a running daemon publishes
nothing more on a paused channel from the moment the record is written; a delivery that
falls due meanwhile is held, and looked at again on resume (within ``catch_up``: published;
later: ``missed``, for a person to decide).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .ledger import Ledger
from .problems import SamverkanError

# The note of a delivery held by a pause (the daemon looks at it again by itself).
PAUSED_NOTE = "the channel is paused"
EVERY = "every channel"


@dataclass(frozen=True)
class Pause:
    seq: int
    channel: str | None  # None: every channel
    reason: str
    by: str
    person: str | None
    way: str  # desk or cli
    os_user: str | None
    at: datetime

    @property
    def what(self) -> str:
        return self.channel or EVERY

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "reason": self.reason, "by": self.by, "person": self.person,
                "way": self.way, "os_user": self.os_user, "at": self.at.isoformat()}


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


def active(ledger: Ledger) -> list[Pause]:
    """The pauses in force, oldest first."""
    on: dict[str | None, Pause] = {}
    for r in ledger.read("SELECT * FROM pauses ORDER BY seq"):
        if r["action"] == "pause":
            on[r["channel"]] = Pause(r["seq"], r["channel"], r["reason"] or "", r["by"], r["person"], r["way"],
                                     r["os_user"], datetime.fromisoformat(r["at"]))
        elif r["channel"] is None:
            on.clear()
        else:
            on.pop(r["channel"], None)
    return sorted(on.values(), key=lambda p: p.seq)


def paused_note(ledger: Ledger, channel: str) -> str | None:
    """The hold note for a delivery on ``channel`` if a pause covers it, else None."""
    covering = [p for p in active(ledger) if p.channel in (None, channel)]
    if not covering:
        return None
    p = covering[0]
    return f"{PAUSED_NOTE} ({p.what}, by {p.by}: {p.reason}); it goes out on resume if within catch_up"


def history(ledger: Ledger, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
    """Every pause and resume record (in ``[start, end)`` if given), oldest first."""
    out = []
    for r in ledger.read("SELECT * FROM pauses ORDER BY seq"):
        at = datetime.fromisoformat(r["at"])
        if (start is None or at >= start) and (end is None or at < end):
            out.append({k: r[k] for k in r.keys() if k != "seq"})
    return out


def pause(ledger: Ledger, channel: str | None, reason: str, *, by: str, way: str, now: datetime,
          person: str | None = None, os_user: str | None = None, channels: list[str] | None = None) -> Pause:
    """Pause ``channel`` (None: every channel). ``channels``: the configured ones, to check the name."""
    reason = reason.strip()
    if not reason:
        raise SamverkanError("say why you pause: --reason TEXT (it is shown to everyone and kept in the ledger)")
    if channel is not None and channels is not None and channel not in channels:
        from .modelerrors import suggest

        raise SamverkanError(f"no channel '{channel}'{suggest(channel, channels)} (channels: {', '.join(channels)})")
    with ledger.transaction() as db:
        cur = db.execute(
            "INSERT INTO pauses (action, channel, reason, by, person, way, os_user, at) VALUES ('pause', ?, ?, ?, ?, ?, ?, ?)",
            (channel, reason, by, person, way, os_user, _iso(now)),
        )
        seq = int(cur.lastrowid or 0)
    return Pause(seq, channel, reason, by, person, way, os_user, now)


def resume(ledger: Ledger, channel: str | None, *, by: str, way: str, now: datetime,
           person: str | None = None, os_user: str | None = None) -> list[Pause]:
    """End the pause of ``channel`` (None: every pause). Returns the pauses ended."""
    on = active(ledger)
    if channel is None:
        ended = on
    else:
        ended = [p for p in on if p.channel == channel]
        if not ended and any(p.channel is None for p in on):
            raise SamverkanError(f"every channel is paused, not {channel} alone; samverkan resume (without --channel) "
                                 "starts them all again")
    if not ended:
        raise SamverkanError(f"{channel or 'nothing'} is not paused" if channel else "nothing is paused")
    with ledger.transaction() as db:
        db.execute(
            "INSERT INTO pauses (action, channel, reason, by, person, way, os_user, at) VALUES ('resume', ?, NULL, ?, ?, ?, ?, ?)",
            (channel, by, person, way, os_user, _iso(now)),
        )
    return ended


def describe(p: Pause, tz: Any) -> str:
    """``facebook-polisen paused 2018-08-13 07:30 by Pat (desk): reason``."""
    return f"{p.what} paused {p.at.astimezone(tz):%Y-%m-%d %H:%M} by {p.by} ({p.way}): {p.reason}"
