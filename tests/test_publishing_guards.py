"""What keeps a delivery from going out: content errors, a broken config, approvals, an
embargo; and the daemon's arithmetic on the night the clocks go back."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from samverkan.cli import cli
from tests.helpers.plans import NOTEBOOK_CHANNEL, TZ, campaign, message, with_channels
from tests.helpers.daemon import Clock, started_daemon
from tests.helpers.plugin import read_notebook

NOTES = with_channels(NOTEBOOK_CHANNEL)


def notes(root: Path) -> list[str]:
    return [str(n["id"]) for n in read_notebook(root / "out/notes.jsonl")]


def test_a_campaign_with_content_errors_is_held_until_mended(make_root, plugin_env) -> None:
    bad = campaign(message(channels="[notes]", body="Ring 811218-9876 om du vet något."))
    good = campaign(message(channels="[notes]"))
    root = make_root(config=NOTES, campaigns={"bad": bad, "good": good})
    d = started_daemon(root, "2018-08-13T07:30")
    try:
        d.tick()
        row = d.ledger.get("bad/start/notes")
        assert row.state == "held"
        assert row.note.startswith("the campaign does not validate: campaigns/bad.yaml:")
        assert "811218" not in row.note  # never repeated, not even in the ledger
    finally:
        d.close()
    assert notes(root) == ["good/start/notes"]
    (root / "campaigns/bad.yaml").write_text(good, encoding="utf-8")
    d = started_daemon(root, "2018-08-13T07:40")
    try:
        d.tick()
    finally:
        d.close()
    assert notes(root) == ["good/start/notes", "bad/start/notes"]


def test_a_template_error_holds_its_deliveries_and_the_others_go_on(make_root, plugin_env) -> None:
    root = make_root(config=NOTES, campaigns={"a": campaign(message(channels="[notes, webb]"))})
    template = root / "content/templates/facebook/post.txt.j2"  # the notebook plugin's template
    template.parent.mkdir(parents=True)
    template.write_text("{{ hashtagz }}\n", encoding="utf-8")
    d = started_daemon(root, "2018-08-13T07:30")
    try:
        d.tick()
        assert d.ledger.get("a/start/notes").state == "held"
        assert "content/templates/facebook/post.txt.j2:1:" in d.ledger.get("a/start/notes").note
    finally:
        d.close()
    # the whole campaign waits: one of its texts cannot be rendered
    assert not notes(root)


def test_a_broken_config_while_running_keeps_the_last_good_plan(make_root, plugin_env) -> None:
    root = make_root(config=NOTES.replace("approval: []", "approval: []\ncatch_up: 1h"),
                     campaigns={"a": campaign(message(at="2018-08-13 09:00", channels="[notes]"))})
    clock = Clock("2018-08-13T07:30")
    d = started_daemon(root, clock)
    try:
        (root / "config.yaml").write_text(NOTES + "bogus_key: 1\n", encoding="utf-8")
        d.reload()
        clock.now = clock.now.replace(hour=9, minute=30)
        d.tick()  # no crash; the last good plan (catch_up 1h) still counts
        assert notes(root) == ["a/start/notes"]
    finally:
        d.close()


def test_the_repeated_hour_is_due_by_the_clock_not_by_the_wall(make_root, plugin_env) -> None:
    text = campaign(message(at="2018-10-28 02:30", channels="[notes]"), period=("2018-10-01", "2018-10-31"))
    root = make_root(config=NOTES, campaigns={"natt": text})
    # 02:30 the first time is 00:30 UTC; at 01:10 UTC the wall shows 02:10, the second time
    clock = Clock("2018-10-28T00:00")
    clock.now = datetime(2018, 10, 28, 1, 10, tzinfo=timezone.utc).astimezone(TZ)
    d = started_daemon(root, clock)
    try:
        assert [x.id for x in d.due(clock.now)] == ["natt/start/notes"]
        d.tick()
    finally:
        d.close()
    assert notes(root) == ["natt/start/notes"]


def test_a_missed_delivery_moved_to_a_new_time_is_published_then(make_root, plugin_env) -> None:
    root = make_root(config=NOTES.replace("approval: []", "approval: []\ncatch_up: 1h"),
                     campaigns={"a": campaign(message(at="2018-08-13 07:00", channels="[notes]"))})
    d = started_daemon(root, "2018-08-13T06:00")  # the daemon's first run
    d.close()
    d = started_daemon(root, "2018-08-13T19:00")
    try:
        d.tick()
        assert d.ledger.get("a/start/notes").state == "missed"
    finally:
        d.close()
    (root / "campaigns/a.yaml").write_text(campaign(message(at="2018-08-13 21:00", channels="[notes]")), encoding="utf-8")
    d = started_daemon(root, "2018-08-13T21:01")
    try:
        d.tick()
    finally:
        d.close()
    assert notes(root) == ["a/start/notes"]


def test_run_once_exits_1_when_work_failed(make_root, plugin_env) -> None:
    config = NOTES.replace("path: out/notes.jsonl", "path: out/notes.jsonl\n    fail: permanent")
    root = make_root(config=config, campaigns={"a": campaign(message(channels="[notes]"))})
    result = CliRunner().invoke(cli, ["run", "--once", "--root", str(root), "--now", "2018-08-13T07:31"])
    assert result.exit_code == 1


def test_publish_by_hand_respects_approvals_and_the_embargo(make_root, plugin_env) -> None:
    press = "  press:\n    publisher: mailer\n    from: T <t@kommun.example>\n    recipients: presslista.csv\n"
    config = with_channels(NOTEBOOK_CHANNEL, press)
    text = campaign(message(channels="[press, notes]") + "    embargo: 2018-08-14 10:00\n")
    root = make_root(config=config, campaigns={"a": text})
    (root / "presslista.csv").write_text("name,email,outlet\nA,a@x.example,X\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["publish", "a/start", "--root", str(root), "--now", "2018-08-13T08:00"])
    assert "published a/start/press" in result.output
    assert "refused   a/start/notes  (under embargo until 2018-08-14 10:00" in result.output
    assert result.exit_code == 1 and not notes(root)
    forced = CliRunner().invoke(cli, ["publish", "a/start", "--force", "--root", str(root), "--now", "2018-08-13T08:00"])
    assert "published a/start/notes" in forced.output
    # approvals are never forced
    held = make_root(config=config.replace("approval: []", "approval: [polisen]"), campaigns={"a": text})
    (held / "presslista.csv").write_text("name,email,outlet\nA,a@x.example,X\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["publish", "a/start/press", "--force", "--root", str(held), "--now", "2018-08-13T08:00"])
    assert "held      a/start/press  (awaiting approval by polisen)" in result.output


def test_plan_and_rehearse_refuse_bad_arguments_clearly(make_root) -> None:
    root = make_root(campaigns={"a": campaign()})
    result = CliRunner().invoke(cli, ["plan", "--root", str(root), "--format", "json", "--out", str(root / "no/such/dir/x.json")])
    assert result.exit_code == 1 and "error: cannot write" in result.output
    result = CliRunner().invoke(cli, ["rehearse", "--root", str(root), "--from", "2018-12-01", "--to", "2018-01-01", "--out", str(root / "r")])
    assert result.exit_code == 2 and "--to is before --from" in result.output


def test_publishers_that_may_publish_again_are_found_by_capability(make_root, plugin_env) -> None:
    from samverkan.loading import load_project
    from samverkan.publishing import idempotent_publishers

    project = load_project(make_root(config=NOTES))
    assert idempotent_publishers(project) == ("rss",)  # the notebook plugin does not say so
