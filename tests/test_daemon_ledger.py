"""Every planned delivery is accounted for, and one daemon owns one ledger even when
files go away under it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from samverkan.cli import cli
from samverkan.ledger import Ledger
from tests.helpers.accounting import assert_accounted
from tests.helpers.daemon import DaemonProcess, started_daemon
from tests.helpers.plans import NOTEBOOK_CHANNEL, REPO, TZ, campaign, message, with_channels
from tests.helpers.plugin import install_plugin, read_notebook

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


def test_deleting_state_under_a_running_daemon_stops_it_publishing_and_keeps_a_second_out(make_root, tmp_path) -> None:
    env = install_plugin(tmp_path / "site")
    text = campaign(message(at="2018-08-13 07:30:01", channels="[notes]"),
                    message(key="sen", at="2018-08-13 07:30:05", channels="[notes]"), period=AUGUST)
    root = make_root(config=NOTES, campaigns={"a": text})
    first = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        first.wait_event("published", "a/start/notes")
        shutil.rmtree(root / "state")  # the ledger, its WAL and the old lock file with it
        second = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
        assert second.wait() == 1
        assert any("another samverkan daemon" in line and "already running" in line for line in second.raw), second.raw
        lost = first.wait_event("ledger_lost", timeout=15)
        assert "was removed while the daemon ran; it publishes nothing more" in lost["message"]
        first.wait_event("alert")
        refused = first.wait_event("refused", "a/sen/notes", timeout=15)  # at its time: not sent
        assert "the ledger file was removed or replaced" in refused["message"]
        assert first.proc.poll() is None  # still there, holding the plan
    finally:
        first.stop()
    assert not first.events("published")[1:]
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes"]  # never twice, nothing blind
    # stopped, the lock goes with it: a daemon starts again (on a new ledger, knowingly)
    third = DaemonProcess(root, now="2018-08-13T07:29:00", env=env)
    try:
        third.wait_event("started")
    finally:
        third.stop()


def test_a_replaced_ledger_file_stops_publishing(make_root, plugin_env) -> None:
    text = campaign(message(at="2018-08-13 07:30", channels="[notes]"), period=AUGUST)
    root = make_root(config=NOTES, campaigns={"a": text})
    d = started_daemon(root, "2018-08-13T07:00")
    try:
        db = root / "state/samverkan.db"
        shutil.copy(db, root / "copy.db")
        (root / "copy.db").replace(db)  # the same bytes, another file (a restore under it)
        d.clock.now = datetime(2018, 8, 13, 7, 31, tzinfo=TZ)
        assert d.tick() == 0
        assert not d.ledger_intact()
    finally:
        d.close()
    assert not read_notebook(root / "out/notes.jsonl")


def test_the_lock_is_on_the_root_folder(make_root, plugin_env) -> None:
    """Two daemons on one plan, the second with the state folder gone: refused by the
    root's lock alone."""
    root = make_root(config=NOTES, campaigns={"a": campaign(message(channels="[notes]"))})
    d = started_daemon(root, "2018-08-13T07:00")
    try:
        (root / "state/samverkan.db.lock").unlink()
        from scheduler import AlreadyRunning, Daemon

        ledger = (root / "state/samverkan.db").stat().st_ino
        with pytest.raises(AlreadyRunning, match="already running on"):
            Daemon(root, start_at=datetime(2018, 8, 13, 7, 0))  # refused before it opens anything
        assert (root / "state/samverkan.db").stat().st_ino == ledger
    finally:
        d.close()
