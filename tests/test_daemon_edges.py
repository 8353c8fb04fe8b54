"""The daemon and the ledger at their edges: a channel that stops validating, a blocked
channel, a state moved under a running daemon, a retry planned by another process, a
signal during --once, a ledger that cannot be opened."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from samverkan.cli import cli
from samverkan.ledger import Ledger
from tests.helpers.plans import MINIMAL_CONFIG, NOTEBOOK_CHANNEL, REPO, campaign, message, with_channels
from tests.helpers.daemon import DaemonProcess, started_daemon, tick_once, wait_until
from tests.helpers.plugin import read_notebook

NOTES = with_channels(NOTEBOOK_CHANNEL)

pytestmark = pytest.mark.usefixtures("accounted")  # every delivery accounted for after each scenario


def ledger_rows(root: Path) -> dict[str, tuple[str, str | None]]:
    with Ledger(root / "state/samverkan.db") as ledger:
        return {r.id: (r.state, r.note) for r in ledger.rows()}


def test_a_channel_whose_settings_stop_validating_is_held_and_the_others_go_on(make_root, plugin_env) -> None:
    root = make_root(config=NOTES.replace("path: out/notes.jsonl", "path: out/notes.jsonl\n    delay: soon"),
                     campaigns={"a": campaign(message(channels="[notes, webb]"))})
    tick_once(root, "2018-08-13T07:31")
    rows = ledger_rows(root)
    assert rows["a/start/webb"][0] == "published"
    assert rows["a/start/notes"] == ("held", "the channel's settings in config.yaml do not validate (channel notes); run samverkan validate")
    (root / "config.yaml").write_text(NOTES, encoding="utf-8")  # mended: it goes out by itself
    tick_once(root, "2018-08-13T07:40")
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes"]


def test_a_blocked_channel_holds_its_deliveries_until_a_person_forces_them(make_root, plugin_env) -> None:
    config = NOTES.replace("path: out/notes.jsonl", "path: out/notes.jsonl\n    fail: blocked")
    text = campaign(message(channels="[notes]"), message(key="igen", at="2018-08-13 08:00", channels="[notes]"))
    root = make_root(config=config, campaigns={"a": text})
    tick_once(root, "2018-08-13T07:31")
    tick_once(root, "2018-08-13T08:01")
    rows = ledger_rows(root)
    assert rows["a/start/notes"][0] == "held" and rows["a/start/notes"][1].startswith(
        "the channel is blocked: the notebook is locked for a day; once it is lifted: samverkan publish a/start/notes --force")
    assert rows["a/igen/notes"][1].startswith("the channel is blocked (see a/start/notes)")
    tick_once(root, "2018-08-13T08:30")  # never posted again by itself
    assert not read_notebook(root / "out/notes.jsonl")
    (root / "config.yaml").write_text(NOTES, encoding="utf-8")  # the block is lifted
    result = CliRunner().invoke(cli, ["publish", "a/start/notes", "--force", "--root", str(root), "--now", "2018-08-13T09:00"])
    assert result.exit_code == 0, result.output
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes"]


def test_state_moved_in_config_while_running_is_refused(make_root, plugin_env) -> None:
    root = make_root(config=NOTES, campaigns={"a": campaign(message(channels="[notes]"))})
    d = started_daemon(root, "2018-08-13T07:00")
    try:
        (root / "config.yaml").write_text(NOTES + "state: state/moved.db\n", encoding="utf-8")
        d.reload()
        assert d.project.config.state == "state/samverkan.db"
        assert any("state: changed while the daemon runs" in str(p) for p in d._reported)
    finally:
        d.close()


def test_timezone_changed_in_config_while_running_keeps_the_last_good_plan(make_root, plugin_env) -> None:
    """The campaigns of the new plan were read in the new zone: taking the plan with the
    old zone pinned on its config would schedule them at times the config does not say."""
    root = make_root(config=NOTES, campaigns={"a": campaign(message(channels="[notes]"))})
    d = started_daemon(root, "2018-08-13T07:00")
    try:
        before = d.project
        (root / "config.yaml").write_text(NOTES.replace("Europe/Stockholm", "Europe/London"), encoding="utf-8")
        (root / "campaigns/a.yaml").write_text(campaign(message(at="2018-08-14 07:30", channels="[notes]")), encoding="utf-8")
        d.reload()
        assert d.project is before
        assert str(d.project.tz) == "Europe/Stockholm"
        assert any("timezone: changed while the daemon runs" in str(p) for p in d._reported)
    finally:
        d.close()


def test_an_approval_given_while_the_daemon_publishes_is_not_missed(make_root, plugin_env) -> None:
    """trafik/start is held for approval; while the daemon is busy sending skola/start,
    another process approves it. The daemon must see that write as news, not as its own."""
    slow = NOTEBOOK_CHANNEL.replace("path: out/notes.jsonl", "path: out/notes.jsonl\n    delay: 2")
    config = with_channels(slow, config=MINIMAL_CONFIG.replace("approval: []", "approval: [kommunen, polisen]"))
    period = ("2018-08-01", "2018-09-09")
    root = make_root(config=config, campaigns={
        "skola": campaign(message(at="2018-08-13 07:30", channels="[notes]"), period=period),
        "trafik": campaign(message(at="2018-08-13 07:29", channels="[notes]"), period=period),
    })

    def approve(target: str) -> None:
        for party in ("kommunen", "polisen"):
            result = CliRunner().invoke(cli, ["approve", target, "--party", party, "--by", "Anna", "--root", str(root),
                                              "--now", "2018-08-13T07:00"])
            assert result.exit_code == 0, result.output

    approve("skola/start")
    daemon = DaemonProcess(root, now="2018-08-13T07:31", env=plugin_env)
    try:
        assert wait_until(lambda: read_notebook(root / "out/notes.jsonl"), 20)  # skola/start is being sent
        approve("trafik/start")
        daemon.wait_event("published", "skola/start/notes")
        daemon.wait_event("published", "trafik/start/notes", timeout=15)
    finally:
        daemon.stop()


def test_ledger_changes_grow_with_any_process_writing(tmp_path: Path) -> None:
    from datetime import timezone

    path = tmp_path / "s.db"
    with Ledger(path) as ledger:
        before = ledger.changes()
        with Ledger(path) as other:
            t = datetime(2018, 8, 13, tzinfo=timezone.utc)
            other.ensure(id="a/b/c", campaign="a", message="b", channel="c", publisher="rss", due_at=t, now=t)
            other.set_state("a/b/c", "held", t, note="x")
        assert ledger.changes() != before


def test_a_failed_delivery_moved_in_the_yaml_is_tried_again(make_root, plugin_env) -> None:
    config = NOTES.replace("path: out/notes.jsonl", "path: out/notes.jsonl\n    fail: permanent")
    root = make_root(config=config, campaigns={"a": campaign(message(channels="[notes]"))})
    tick_once(root, "2018-08-13T07:31")
    assert ledger_rows(root)["a/start/notes"][0] == "failed"
    (root / "config.yaml").write_text(NOTES, encoding="utf-8")
    (root / "campaigns/a.yaml").write_text(campaign(message(at="2018-08-14 07:30", channels="[notes]")), encoding="utf-8")
    tick_once(root, "2018-08-14T07:31")
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["a/start/notes"]


def test_sigterm_during_run_once_finishes_the_delivery_in_flight(make_root, plugin_env) -> None:
    config = NOTES.replace("path: out/notes.jsonl", "path: out/notes.jsonl\n    delay: 2")
    root = make_root(config=config, campaigns={"a": campaign(message(channels="[notes]"))})
    proc = subprocess.Popen([sys.executable, "-m", "samverkan", "run", "--once", "--root", str(root),
                             "--now", "2018-08-13T07:31"], cwd=REPO, env=plugin_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not read_notebook(root / "out/notes.jsonl"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert ledger_rows(root)["a/start/notes"][0] == "published"


def test_resolve_as_published_keeps_the_payload_for_the_archive(make_root) -> None:
    from datetime import timezone

    root = make_root(campaigns={"a": campaign()})
    t = datetime(2018, 8, 13, 5, 30, tzinfo=timezone.utc)
    with Ledger(root / "state/samverkan.db") as ledger:
        ledger.ensure(id="a/start/webb", campaign="a", message="start", channel="webb", publisher="mailer", due_at=t, now=t)
        ledger.begin("a/start/webb", "h", t, fields={"title": "T"}, files={"x.eml": b"bytes"})
        ledger.reap(t, everyone=True)
    result = CliRunner().invoke(cli, ["resolve", "a/start/webb", "--as", "published", "--root", str(root)])
    assert result.exit_code == 0, result.output
    with Ledger(root / "state/samverkan.db") as ledger:
        row = ledger.get("a/start/webb")
        assert row.state == "published" and row.published_at is not None
        assert ledger.archive("a/start/webb") == {"x.eml": b"bytes"}


def test_a_state_that_cannot_be_opened_is_a_clear_error(make_root) -> None:
    root = make_root(campaigns={"a": campaign()})
    (root / "state").write_text("not a folder")
    result = CliRunner().invoke(cli, ["status", "--root", str(root)])
    assert result.exit_code == 1
    assert "error: cannot open the ledger" in result.output and "check state: in config.yaml" in result.output
    assert "Traceback" not in result.output


def test_dry_run_with_a_broken_press_list_says_so(make_root) -> None:
    press = "  press:\n    publisher: mailer\n    from: T <t@kommun.example>\n    recipients: content/presslista.csv\n"
    root = make_root(config=with_channels(press), campaigns={"a": campaign(message(channels="[press]"))})
    (root / "content/presslista.csv").write_text("name,email,outlet\nA,not-an-address,X\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["publish", "a/start", "--dry-run", "--root", str(root), "--now", "2018-08-13T07:31"])
    assert result.exit_code == 1
    assert "refused   a/start/press" in result.output and "not-an-address" in result.output


def test_status_survives_a_template_that_cannot_be_rendered(make_root, plugin_env) -> None:
    config = NOTES.replace("approval: []", "approval: [kommunen, polisen]")
    root = make_root(config=config, campaigns={"a": campaign(message(channels="[notes]"))})
    template = root / "content/templates/facebook/post.txt.j2"
    template.parent.mkdir(parents=True)
    template.write_text("{{ nope }}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["status", "--root", str(root), "--now", "2018-08-01T00:00"])
    assert result.exit_code == 0, result.output
    assert "Upcoming" in result.output
    listing = CliRunner().invoke(cli, ["approvals", "--root", str(root), "--now", "2018-08-01T00:00"])
    assert "cannot be rendered, so not approved: content/templates/facebook/post.txt.j2:1:" in listing.output


def test_a_signal_while_the_main_loop_holds_its_wake_lock_does_not_hang(make_root) -> None:
    """The signal handler runs in the main thread between two of its steps; had it set
    the wake-up event, a SIGTERM landing inside _wake.wait() or clear() (which hold that
    event's lock) would wait forever on the lock its own thread holds."""
    root = make_root()
    script = (
        "import os, signal, time\n"
        "from pathlib import Path\n"
        "from scheduler import Daemon\n"
        f"d = Daemon(Path({str(root)!r}), poll=0.2)\n"
        "d._on_signals()\n"
        "with d._wake._cond:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(0.2)\n"
        "print('stopping' if d.stop.is_set() else 'running')\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("the daemon hung in its own signal handler") from None
    assert done.stdout.strip() == "stopping", done.stderr
