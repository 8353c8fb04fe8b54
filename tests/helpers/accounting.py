"""The invariant of the daemon's tests: every delivery of the plan is, at any time, in
exactly one state that ``samverkan status`` shows, and that state agrees with the ledger."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from samverkan.cli import cli
from samverkan.ledger import Ledger
from samverkan.loading import Project, load_project
from samverkan.plan import deliveries
from samverkan.status import DELIVERY_STATES, NEEDS_A_PERSON, status
from samverkan.timeutil import utc

# A state of the ledger -> the states status may show for it (a pending row is upcoming,
# due or retrying by its time and its last error).
FROM_LEDGER = {
    "pending": {"upcoming", "due", "retrying"},
    "in_flight": {"in_flight"},
    "published": {"published"},
    "held": {"held"},
    "failed": {"failed"},
    "unknown": {"unknown"},
    "missed": {"missed"},
}


def assert_accounted(root: Path, at: list[datetime] | None = None) -> int:
    """Check the invariant for the plan in ``root`` at the times ``at`` (default: the
    ledger's first run, its last event and a year on). Returns how many deliveries were
    checked (0 when there is no valid plan or no readable ledger to check)."""
    project = load_project(root)
    if project.config is None:
        return 0
    path = root / project.config.state
    if not path.is_file():
        return 0
    try:
        with Ledger(path) as ledger:
            return _check(root, project, ledger, at)
    except sqlite3.DatabaseError:  # a ledger a test damaged on purpose: status says so instead
        return 0


def _check(root: Path, project: Project, ledger: Ledger, at: list[datetime] | None) -> int:
    plan = deliveries(project)
    ids = [d.id for d in plan]
    assert len(ids) == len(set(ids)), "two deliveries of the plan share an id"
    if at is None:
        times = [datetime.fromisoformat(r[0]) for r in ledger.read("SELECT MAX(at) FROM events") if r[0]]
        first = ledger.meta("first_run")
        if first:
            times.append(datetime.fromisoformat(first))
        at = times + [t + timedelta(days=400) for t in times[:1]]
    rows = {r.id: r for r in ledger.rows()}
    for now in at:
        now = now.astimezone(project.tz)
        s = status(project, ledger, now, changed=False)
        assert sorted(s.states) == sorted(ids), "status does not account for every delivery of the plan, once"
        assert sum(s.counts().values()) == len(ids)
        attention = {r.id for r in s.attention}
        for d in plan:
            state = s.states[d.id]
            assert state in DELIVERY_STATES, (d.id, state)
            row = rows.get(d.id)
            moved = row is not None and row.state in ("missed", "failed") and utc(row.due_at) != utc(d.at)
            if row is None or moved:
                assert state in ("upcoming", "due", "before_first_run"), (d.id, state)
            else:
                assert state in FROM_LEDGER[row.state], (d.id, row.state, state)
                if row.state in NEEDS_A_PERSON:
                    assert d.id in attention, f"{d.id} is {row.state} but status does not say it needs a person"
            if state == "upcoming":
                assert utc(d.at) > utc(now), (d.id, "upcoming, but its time is past")
            elif state in ("due", "before_first_run"):
                assert utc(d.at) <= utc(now), (d.id, state, "but its time has not come")
    # and the command shows the same, in its JSON
    last = at[-1].astimezone(project.tz).replace(tzinfo=None).isoformat() if at else None
    args = ["status", "--format", "json", "--root", str(root)] + (["--now", last] if last else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert sorted(shown["deliveries"]) == sorted(ids)
    assert sum(shown["counts"].values()) == len(ids)
    return len(ids)
