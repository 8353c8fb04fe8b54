"""Pause and resume: the command line, the ledger, status, and a running daemon that stops
publishing on a paused channel at once."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from samverkan.ledger import Ledger
from tests.helpers.cli import invoke
from tests.helpers.daemon import DaemonProcess
from tests.helpers.plans import NOTEBOOK_CHANNEL, campaign, message, with_channels
from tests.helpers.plugin import read_notebook

AUGUST = ("2018-08-01", "2018-09-09")


def notes_plan(make_root, at: str = "2018-08-13 07:30:02") -> Path:
    text = campaign(message("start", at, channels="[notes]"), period=AUGUST)
    return make_root(config=with_channels(NOTEBOOK_CHANNEL), campaigns={"skola": text})


def test_pause_and_resume_are_recorded_and_shown(make_root, plugin_env) -> None:
    root = notes_plan(make_root)
    done = invoke("pause", "--root", str(root), "--now", "2018-08-13T07:00", "--channel", "notes",
                  "--reason", "Fel bild i inlägget", "--by", "Kim")
    assert done.exit_code == 0, done.output
    assert "notes paused 2018-08-13 07:00 by Kim (cli): Fel bild i inlägget" in done.output
    status = invoke("status", "--root", str(root), "--now", "2018-08-13T07:01")
    assert "Paused (nothing is published there until: samverkan resume)" in status.output
    assert "notes paused 2018-08-13 07:00 by Kim (cli): Fel bild i inlägget" in status.output
    data = json.loads(invoke("status", "--root", str(root), "--now", "2018-08-13T07:01", "--format", "json").output)
    assert [(p["channel"], p["by"], p["way"], p["reason"]) for p in data["paused"]] == [("notes", "Kim", "cli", "Fel bild i inlägget")]
    assert data["paused"][0]["os_user"]
    # publishing by hand is held too
    held = invoke("publish", "--root", str(root), "--now", "2018-08-13T07:31", "skola/start")
    assert "held" in held.output and "the channel is paused" in held.output
    assert read_notebook(root / "out/notes.jsonl") == []
    from samverkan.alerts import fix_for

    with Ledger(root / "state/samverkan.db") as ledger:  # the alert of a held delivery says how to go on
        assert fix_for("held", ledger.get("skola/start/notes")).startswith("when publishing may go on: samverkan resume")
    again = invoke("resume", "--root", str(root), "--now", "2018-08-13T07:32", "--channel", "notes")
    assert again.exit_code == 0 and "resumed notes (paused by Kim: Fel bild i inlägget)" in again.output
    assert "Paused" not in invoke("status", "--root", str(root), "--now", "2018-08-13T07:33").output
    with Ledger(root / "state/samverkan.db") as ledger:
        assert [r["action"] for r in ledger.read("SELECT action FROM pauses ORDER BY seq")] == ["pause", "resume"]


def test_pause_refuses_what_it_cannot_do(make_root, plugin_env) -> None:
    root = notes_plan(make_root)
    no_reason = invoke("pause", "--root", str(root), "--reason", "  ")
    assert no_reason.exit_code == 1 and "say why you pause" in no_reason.output
    typo = invoke("pause", "--root", str(root), "--channel", "note", "--reason", "x")
    assert typo.exit_code == 1 and "no channel 'note'; did you mean 'notes'?" in typo.output
    assert invoke("resume", "--root", str(root)).output.strip() == "error: nothing is paused"
    assert invoke("pause", "--root", str(root), "--reason", "Allt stopp").exit_code == 0
    one = invoke("resume", "--root", str(root), "--channel", "notes")
    assert one.exit_code == 1 and "every channel is paused, not notes alone" in one.output
    assert invoke("resume", "--root", str(root)).exit_code == 0


def test_daemon_holds_what_falls_due_while_paused_and_publishes_it_once_on_resume(make_root, plugin_env) -> None:
    root = notes_plan(make_root, at="2018-08-13 09:00")
    began = time.monotonic()  # the daemon's clock shows at most 07:30 + the time since this
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=plugin_env)
    try:
        daemon.wait_event("started")
        paused = invoke("pause", "--root", str(root), "--reason", "Stopp", "--by", "Kim")
        assert paused.exit_code == 0, paused.output
        # A delivery due two seconds after the pause, as the daemon's clock has it.
        due = datetime(2018, 8, 13, 7, 30) + timedelta(seconds=time.monotonic() - began + 2)
        text = campaign(message("start", f"{due:%Y-%m-%d %H:%M:%S}", channels="[notes]"), period=AUGUST)
        (root / "campaigns/skola.yaml").write_text(text, encoding="utf-8")
        held = daemon.wait_event("held", "skola/start/notes")
        assert "the channel is paused (every channel, by Kim: Stopp)" in held["message"]
        assert read_notebook(root / "out/notes.jsonl") == []
        resumed_at = time.monotonic()
        assert invoke("resume", "--root", str(root)).exit_code == 0
        daemon.wait_event("published", "skola/start/notes")
        assert time.monotonic() - resumed_at < 3  # seen within the daemon's poll, not at the next due time
        time.sleep(0.6)  # a few more polls: nothing is sent twice
        assert len(read_notebook(root / "out/notes.jsonl")) == 1
    finally:
        daemon.stop()


def test_resume_past_catch_up_leaves_it_missed(make_root, plugin_env) -> None:
    root = notes_plan(make_root)
    config = (root / "config.yaml").read_text(encoding="utf-8")
    (root / "config.yaml").write_text(config + "catch_up: 1h\n", encoding="utf-8")
    assert invoke("pause", "--root", str(root), "--now", "2018-08-13T07:00", "--reason", "Stopp", env=plugin_env).exit_code == 0
    run = invoke("run", "--root", str(root), "--now", "2018-08-13T07:31", "--once", env=plugin_env)
    assert run.exit_code == 0, run.output
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.get("skola/start/notes").state == "held"
    assert invoke("resume", "--root", str(root), "--now", "2018-08-13T09:00").exit_code == 0
    late = invoke("run", "--root", str(root), "--now", "2018-08-13T09:00", "--once", env=plugin_env)
    assert late.exit_code == 1  # missed: a person decides
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.get("skola/start/notes").state == "missed"
    assert read_notebook(root / "out/notes.jsonl") == []


def test_the_archive_keeps_who_paused_and_why(make_root, plugin_env, tmp_path) -> None:
    root = notes_plan(make_root)
    invoke("pause", "--root", str(root), "--now", "2018-08-13T07:00", "--reason", "Stopp", "--by", "Kim")
    invoke("resume", "--root", str(root), "--now", "2018-08-13T08:00", "--by", "Kim")
    out = tmp_path / "arkiv"
    done = invoke("archive", "--root", str(root), "--from", "2018-08-01", "--to", "2018-08-31", "--out", str(out))
    assert done.exit_code == 0, done.output
    records = [json.loads(line) for line in (out / "pauses.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["action"], r["channel"], r["by"], r["reason"], r["way"]) for r in records] == [
        ("pause", None, "Kim", "Stopp", "cli"), ("resume", None, "Kim", None, "cli")]
    assert invoke("archive", "--verify", str(out)).exit_code == 0
