"""Every planned delivery is accounted for."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from samverkan.cli import cli
from samverkan.ledger import Ledger
from tests.helpers.accounting import assert_accounted
from tests.helpers.plans import NOTEBOOK_CHANNEL, REPO, TZ, campaign, message, with_channels
from tests.helpers.plugin import read_notebook

pytestmark = pytest.mark.usefixtures("accounted")  # every delivery accounted for after each scenario

AUGUST = ("2018-08-01", "2018-09-09")
NOTES = with_channels(NOTEBOOK_CHANNEL)


def run_once(root: Path, now: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "samverkan", "run", "--once", "--root", str(root), "--now", now],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_a_wrong_clock_at_first_boot_loses_no_delivery(make_root, plugin_env) -> None:
    text = campaign(message(at="2018-08-13 07:30", channels="[notes]"),
                    message(key="sen", at="2018-08-20 07:30", channels="[notes]"), period=AUGUST)
    root = make_root(config=NOTES, campaigns={"a": text})
    ahead = run_once(root, "2031-01-01T12:00", plugin_env)  # a fresh ledger, a clock years ahead
    assert ahead.returncode == 0, ahead.stdout + ahead.stderr
    right = run_once(root, "2018-08-13T07:31", plugin_env)  # the clock mended
    assert right.returncode == 0, right.stdout + right.stderr
    assert "the clock was ahead then; counting from now" in right.stdout + right.stderr
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes"]
    result = CliRunner().invoke(cli, ["status", "--format", "json", "--root", str(root), "--now", "2018-08-13T07:32"])
    shown = json.loads(result.output)
    assert shown["deliveries"] == {"a/start/notes": "published", "a/sen/notes": "upcoming"}
    assert shown["counts"] == {"upcoming": 1, "published": 1}
    later = run_once(root, "2018-08-20T07:31", plugin_env)
    assert later.returncode == 0
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes", "a/sen/notes"]
    assert assert_accounted(root) == 2


def test_status_says_a_delivery_nobody_sent_is_overdue(make_root) -> None:
    """The daemon ran once, then stopped: what fell due since is shown, not silent."""
    text = campaign(message(at="2018-08-13 07:30"), message(key="sen", at="2018-08-20 07:30"), period=AUGUST)
    root = make_root(campaigns={"a": text})
    with Ledger(root / "state/samverkan.db") as ledger:
        ledger.set_meta("first_run", datetime(2018, 8, 1, tzinfo=TZ).isoformat())
    out = CliRunner().invoke(cli, ["status", "--root", str(root), "--now", "2018-08-14T12:00"]).output
    assert "Needs a person: nothing" not in out
    assert "overdue   a/start/webb  due 2018-08-13 07:30" in out and "is the daemon running?" in out
    assert "Deliveries: 1 upcoming, 1 due" in out
    assert assert_accounted(root, [datetime(2018, 8, 14, 12, tzinfo=TZ)]) == 2
