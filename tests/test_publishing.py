"""Publishing by hand: at most once, through a third-party publisher found by entry point."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from samverkan.ledger import Ledger
from tests.helpers.cli import invoke
from tests.helpers.plans import NOTEBOOK_CHANNEL, REPO, campaign, message, with_channels
from tests.helpers.plugin import read_notebook

CAMPAIGN = campaign(
    message(channels="[notes]"),
    message("vecka", "2018-08-20 12:00", "Påminnelse", "Fortsätt köra lugnt.", repeat="{every: 7d, count: 3}",
            channels="[notes]"),
)


def config(extra: str = "") -> str:
    return with_channels(NOTEBOOK_CHANNEL, extra)


def test_plugin_found_by_entry_point_and_unknown_publisher_reported(make_root, plugin_env) -> None:
    root = make_root(config=config(), campaigns={"skola": CAMPAIGN})
    result = invoke("validate", "--root", str(root))
    assert result.exit_code == 0, result.output
    bad = make_root(config=config().replace("publisher: notebook", "publisher: notebok"), campaigns={"skola": CAMPAIGN})
    result = invoke("validate", "--root", str(bad))
    assert result.exit_code == 1
    from publishers.base import registry

    installed = ", ".join(sorted(registry()))  # the built-ins, notebook, and any plugin installed here
    assert {"facebook", "instagram", "mailer", "notebook", "rss"} <= set(registry())
    assert f'config.yaml:29:16: error: channel notes: no publisher named "notebok"; installed: {installed}' in result.output


def test_plugin_settings_errors_carry_the_channel(make_root, plugin_env) -> None:
    root = make_root(config=config("    delay: soon\n"), campaigns={"skola": CAMPAIGN})
    result = invoke("validate", "--root", str(root))
    assert "config.yaml:31:12: error: channel notes: delay: expected a number, got 'soon'" in result.output


def test_publish_twice_sends_once(make_root, plugin_env) -> None:
    root = make_root(config=config(), campaigns={"skola": CAMPAIGN})
    first = invoke("publish", "skola/start", "--root", str(root), "--now", "2018-08-13T07:31")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("published skola/start/notes")
    second = invoke("publish", "skola/start", "--root", str(root), "--now", "2018-08-13T07:32")
    assert second.exit_code == 0
    assert "skipped   skola/start/notes" in second.output and "already published" in second.output
    notes = read_notebook(root / "out/notes.jsonl")
    assert [n["id"] for n in notes] == ["skola/start/notes"]
    with Ledger(root / "state/samverkan.db") as ledger:
        row = ledger.get("skola/start/notes")
        assert row.state == "published" and row.attempts == 1
        assert json.loads(ledger.archive("skola/start/notes")["post.json"]) == notes[0]
    forced = invoke("publish", "skola/start/notes", "--force", "--root", str(root))
    assert forced.exit_code == 0
    assert len(read_notebook(root / "out/notes.jsonl")) == 2


def test_dry_run_sends_nothing_and_repeats_pick_the_latest_due(make_root, plugin_env) -> None:
    root = make_root(config=config(), campaigns={"skola": CAMPAIGN})
    result = invoke("publish", "skola/vecka", "--dry-run", "--root", str(root), "--now", "2018-08-28T09:00")
    assert result.exit_code == 0, result.output
    assert "dry-run   skola/vecka/notes@2018-08-27" in result.output
    assert "text: Påminnelse" in result.output
    assert not (root / "out/notes.jsonl").exists()


def test_publish_unknown_message_says_which_exist(make_root, plugin_env) -> None:
    root = make_root(config=config(), campaigns={"skola": CAMPAIGN})
    result = invoke("publish", "skola/strat", "--root", str(root))
    assert result.exit_code == 1
    assert "error: no message 'strat' in skola; did you mean 'start'? (messages: start, vecka)" in result.output


def test_failures_are_recorded_and_shown_by_status(make_root, plugin_env) -> None:
    root = make_root(config=config("    fail: permanent\n"), campaigns={"skola": CAMPAIGN})
    result = invoke("publish", "skola/start", "--root", str(root), "--now", "2018-08-13T07:31")
    assert result.exit_code == 1
    assert "failed    skola/start/notes" in result.output
    status = invoke("status", "--root", str(root), "--now", "2018-08-13T07:35")
    assert "failed    skola/start/notes" in status.output
    assert "the notebook is closed: a person must open it" in status.output
    data = json.loads(invoke("status", "--root", str(root), "--now", "2018-08-13T07:35", "--format", "json").output)
    assert [r["id"] for r in data["needs_attention"]] == ["skola/start/notes"]


def test_publish_killed_between_send_and_receipt_is_unknown_until_resolved(make_root, plugin_env) -> None:
    root = make_root(config=config("    delay: 30\n"), campaigns={"skola": CAMPAIGN})
    proc = subprocess.Popen(
        [sys.executable, "-m", "samverkan", "publish", "skola/start", "--root", str(root), "--now", "2018-08-13T07:31"],
        cwd=REPO, env=plugin_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not read_notebook(root / "out/notes.jsonl"):  # sent, receipt not yet recorded
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(10)
    status = invoke("status", "--root", str(root), "--now", "2018-08-13T07:40")
    assert "unknown   skola/start/notes" in status.output
    assert "samverkan resolve skola/start/notes --as published|failed" in status.output
    again = invoke("publish", "skola/start", "--root", str(root), "--now", "2018-08-13T07:41")
    assert again.exit_code == 1 and "refused" in again.output
    assert len(read_notebook(root / "out/notes.jsonl")) == 1
    settled = invoke("resolve", "skola/start/notes", "--as", "published", "--root", str(root))
    assert settled.exit_code == 0, settled.output
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.get("skola/start/notes").state == "published"
    not_unknown = invoke("resolve", "skola/start/notes", "--as", "failed", "--root", str(root))
    assert not_unknown.exit_code == 1 and "only unknown deliveries" in not_unknown.output
