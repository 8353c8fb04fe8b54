"""Wall-clock times in the configured zone, durations, and the injected clock."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Callable
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``6h``, ``7d``, ``2w`` → timedelta; ValueError otherwise."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a duration; write e.g. 30m, 6h, 7d or 2w")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class WallTime(Enum):
    OK = "ok"
    NONEXISTENT = "nonexistent"  # skipped when the clocks go forward
    AMBIGUOUS = "ambiguous"  # happens twice when the clocks go back


def localize(naive: datetime, tz: ZoneInfo) -> tuple[datetime, WallTime]:
    """Attach ``tz`` to a wall time; an ambiguous time means the earlier one (fold=0)."""
    aware = naive.replace(tzinfo=tz, fold=0)
    # A wall time that comes once has one offset whichever fold is asked for; one the clocks
    # skip or pass twice has two (PEP 495), and which of those it is takes more work.
    if aware.utcoffset() == naive.replace(tzinfo=tz, fold=1).utcoffset():
        return aware, WallTime.OK
    back = aware.astimezone(timezone.utc).astimezone(tz)
    if back.replace(tzinfo=None) != naive:
        return aware, WallTime.NONEXISTENT
    if aware.utcoffset() != naive.replace(tzinfo=tz, fold=1).utcoffset():
        return aware, WallTime.AMBIGUOUS
    return aware, WallTime.OK


def utc(dt: datetime) -> datetime:
    """``dt`` in UTC. Arithmetic on zoned datetimes is wall-clock arithmetic (one hour off
    across a DST change); elapsed time is computed on UTC values."""
    return dt.astimezone(timezone.utc)


def parse_now(text: str | None, tz: ZoneInfo) -> Clock:
    """The clock for ``--now``: a fixed instant, or the real time in ``tz``."""
    if not text:
        return lambda: datetime.now(tz)
    fixed = datetime.fromisoformat(text)
    if fixed.tzinfo is None:
        fixed = localize(fixed, tz)[0]
    return lambda: fixed
