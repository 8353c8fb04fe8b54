"""One delivery, one file or one fault of the disk cannot stop the daemon: each is that
delivery's failure (or the ledger's, said and retried), and the others go on."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from samverkan.cli import cli
from samverkan.ledger import Ledger
from tests.helpers.accounting import assert_accounted
from tests.helpers.daemon import DaemonProcess, started_daemon, wait_until
from tests.helpers.plans import NOTEBOOK_CHANNEL, REPO, TZ, campaign, message, with_channels
from tests.helpers.plugin import install_plugin, read_notebook

pytestmark = pytest.mark.usefixtures("accounted")  # every delivery accounted for after each scenario

AUGUST = ("2018-08-01", "2018-09-09")
SECRET = "s3cret-notebook-token-42"
# Two more notebook channels: one whose plugin breaks building the payload, one while sending,
# both with the secret token in their exception's words.
BROKEN_CHANNELS = """\
  trasig:
    publisher: notebook
    path: out/trasig.jsonl
    crash: payload
    token: ${NOTES_TOKEN}
  halvtrasig:
    publisher: notebook
    path: out/halvtrasig.jsonl
    crash: publish
    token: ${NOTES_TOKEN}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**install_plugin(tmp_path / "site"), "NOTES_TOKEN": SECRET}


def states(root: Path) -> dict[str, str]:
    with Ledger(root / "state/samverkan.db") as ledger:
        return {r.id: r.state for r in ledger.rows()}


def status_text(root: Path, now: str, env: dict[str, str]) -> str:
    result = CliRunner().invoke(cli, ["status", "--root", str(root), "--now", now], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_publisher_that_raises_fails_its_delivery_and_the_others_go_on(make_root, env) -> None:
    root = make_root(config=with_channels(NOTEBOOK_CHANNEL, BROKEN_CHANNELS), campaigns={
        "trasig": campaign(message(at="2018-08-13 07:30:01", channels="[trasig, halvtrasig]"), period=AUGUST),
        "hel": campaign(message(at="2018-08-13 07:30:03", channels="[notes]"), period=AUGUST),
    })
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        prepared = daemon.wait_event("failed", "trasig/start/trasig")
        sent = daemon.wait_event("failed", "trasig/start/halvtrasig")
        daemon.wait_event("published", "hel/start/notes")
        assert daemon.proc.poll() is None  # still running
    finally:
        daemon.stop()
    assert "cannot be prepared: RuntimeError: the notebook plugin broke in payload holding ***" in prepared["message"]
    assert "samverkan publish trasig/start/trasig" in prepared["message"]
    assert "the publisher notebook broke while sending: RuntimeError" in sent["message"]
    assert "look on the channel whether it went out" in sent["message"]
    assert all(SECRET not in line and "Traceback" not in line for line in daemon.raw), daemon.raw
    assert states(root) == {"trasig/start/trasig": "failed", "trasig/start/halvtrasig": "failed",
                            "hel/start/notes": "published"}
    out = status_text(root, "2018-08-13T07:31", env)
    assert "failed    trasig/start/trasig" in out and SECRET not in out and "Traceback" not in out
    # A restart does not meet the same fault again (catch-up would go to it first).
    again = DaemonProcess(root, now="2018-08-13T07:30:30", env=env)
    try:
        again.wait_event("started")
    finally:
        again.stop()
    assert not again.events("failed") and again.wait() == 0
    assert len(read_notebook(root / "out/notes.jsonl")) == 1


def test_a_feed_folder_that_cannot_be_written_is_retried_once_mended(make_root, plugin_env) -> None:
    root = make_root(config=with_channels("", tail="retry: {first: 1m, max_wait: 2m}\n"),
                     campaigns={"a": campaign(message(channels="[webb]"))})
    (root / "public").write_text("a file where the feed's folder must be")  # stops root too
    d = started_daemon(root, "2018-08-13T07:30:30")
    try:
        d.tick()
        row = d.ledger.get("a/start/webb")
        assert row is not None and row.state == "pending" and row.next_retry is not None
        assert "cannot write the feed" in (row.last_error or "") and "public" in (row.last_error or "")
        assert "make sure its folder exists, is a folder" in (row.last_error or "")
        d.clock.now += timedelta(minutes=1, seconds=1)
        d.tick()  # still broken: a second try, and now a person is told
        d.watch(background=False)
        alerts = d.ledger.read("SELECT kind, subject, reason FROM alerts WHERE resolved_at IS NULL")
        assert [(a[0], a[1]) for a in alerts] == [("retrying", "a/start/webb")]
        assert "cannot write the feed" in alerts[0][2]
        (root / "public").unlink()  # mended
        d.clock.now += timedelta(minutes=2)
        d.tick()
        assert d.ledger.get("a/start/webb").state == "published"
        d.watch(background=False)
        assert not d.ledger.read("SELECT 1 FROM alerts WHERE resolved_at IS NULL")  # over, and closed
    finally:
        d.close()
    assert (root / "public/feed.xml").is_file()


def _wal_size(root: Path) -> int:
    wal = root / "state/samverkan.db-wal"
    return wal.stat().st_size if wal.exists() else 0


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
def test_a_full_disk_under_the_ledger_sends_nothing_blind_and_goes_on_when_mended(make_root, plugin_env) -> None:
    """The disk is made full for the daemon alone with RLIMIT_FSIZE (root too is bound by
    it): the ledger's next write fails as on a full disk. Then the limit is lifted."""
    root = make_root(config=with_channels(NOTEBOOK_CHANNEL),
                     campaigns={"a": campaign(message(at="2018-08-13 07:30:02", channels="[notes]"), period=AUGUST)})
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=plugin_env)
    try:
        daemon.wait_event("started")
        # Just above what the ledger's files hold now: the next commit's pages cross it.
        limit = max(_wal_size(root), (root / "state/samverkan.db").stat().st_size) + 100
        hard = resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE)[1]
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))  # (the soft limit: it may rise again)
        fault = daemon.wait_event("ledger_fault")
        assert "cannot write the ledger" in fault["message"] and "full disk" in fault["message"], fault
        assert "nothing is sent meanwhile" in fault["message"]
        daemon.wait_event("alert")
        assert not read_notebook(root / "out/notes.jsonl")  # nothing sent blind
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
        daemon.wait_event("ledger_mended", timeout=30)
        daemon.wait_event("published", "a/start/notes")
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes"]
    assert all("Traceback" not in line for line in daemon.raw), daemon.raw


def _corrupt(db: Path) -> None:
    """Garbage over every page but the first (the header): the tables cannot be read."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    data[page:] = b"\xa5" * (len(data) - page)
    db.write_bytes(bytes(data))


def test_a_damaged_ledger_is_said_clearly_sends_nothing_and_works_once_restored(make_root, plugin_env) -> None:
    text = campaign(message(at="2018-08-13 07:20", channels="[notes]"),
                    message(key="igen", at="2018-08-13 07:30", channels="[notes]"), period=AUGUST)
    root = make_root(config=with_channels(NOTEBOOK_CHANNEL), campaigns={"a": text})
    run = [sys.executable, "-m", "samverkan", "run", "--once", "--root", str(root)]
    first = subprocess.run(run + ["--now", "2018-08-13T07:21"], cwd=REPO, env=plugin_env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    db = root / "state/samverkan.db"
    backup = root.parent / "backup.db"
    shutil.copy(db, backup)
    _corrupt(db)
    broken = subprocess.run(run + ["--now", "2018-08-13T07:31"], cwd=REPO, env=plugin_env, capture_output=True, text=True)
    said = broken.stdout + broken.stderr
    assert broken.returncode == 1, said
    assert f"the ledger {db} is damaged (database disk image is malformed)" in said
    assert "restore it from a backup" in said and "Traceback" not in said
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes"]  # nothing more
    shutil.copy(backup, db)  # restored
    mended = subprocess.run(run + ["--now", "2018-08-13T07:31"], cwd=REPO, env=plugin_env, capture_output=True, text=True)
    assert mended.returncode == 0, mended.stdout + mended.stderr
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes", "a/igen/notes"]


def test_a_reload_that_raises_keeps_the_last_good_plan_and_says_so(make_root, plugin_env) -> None:
    root = make_root(config=with_channels(NOTEBOOK_CHANNEL),
                     campaigns={"a": campaign(message(at="2018-08-13 07:40", channels="[notes]"), period=AUGUST)})
    d = started_daemon(root, "2018-08-13T07:30")
    try:
        before = d._plan
        # a plan that breaks where no check looks: the deliveries cannot be listed
        import scheduler

        real = scheduler.deliveries
        scheduler.deliveries = lambda project: (_ for _ in ()).throw(MemoryError("no room"))  # type: ignore[assignment]
        try:
            d.safe_reload()
        finally:
            scheduler.deliveries = real  # type: ignore[assignment]
        assert d._plan is before and d._plan_fault
        d.clock.now = datetime(2018, 8, 13, 7, 40, 1, tzinfo=TZ)
        assert d.tick() == 1  # the last good plan goes on
        d.safe_reload()
        assert not d._plan_fault
    finally:
        d.close()


def test_commands_on_a_damaged_ledger_say_so_and_publish_by_hand_sends_nothing(make_root, plugin_env) -> None:
    """Pages damaged past the first: the ledger opens, and status, archive and
    publish read a bad page; each says what is wrong, never a traceback, and nothing is sent."""
    from tests.helpers.cli import invoke

    text = campaign(*(message(key=f"m{i}", at=f"2018-08-13 07:{i:02d}", channels="[notes]") for i in range(40)),
                    period=AUGUST)
    root = make_root(config=with_channels(NOTEBOOK_CHANNEL), campaigns={"a": text})
    first = subprocess.run([sys.executable, "-m", "samverkan", "run", "--once", "--root", str(root),
                            "--now", "2018-08-13T07:45"], cwd=REPO, env=plugin_env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    db = root / "state/samverkan.db"
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    data[-2 * page:] = b"\xa5" * (2 * page)  # the last pages: the file opens, its tables do not read
    db.write_bytes(bytes(data))
    before = read_notebook(root / "out/notes.jsonl")
    for args in (["status"], ["status", "--format", "json"],
                 ["archive", "--from", "2018-08-13", "--to", "2018-08-13", "--out", str(root.parent / "arkiv")],
                 ["publish", "a/m2/notes", "--force"]):
        result = invoke(*args, "--root", str(root), "--now", "2018-08-13T07:50", env=plugin_env)  # (raises a traceback)
        assert result.exit_code == 1, (args, result.output)
        assert "is damaged (database disk image is malformed" in result.output, (args, result.output)
    assert read_notebook(root / "out/notes.jsonl") == before  # nothing more was sent
