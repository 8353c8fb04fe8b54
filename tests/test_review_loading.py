"""Loading: repeats that end before they start, config.yaml errors that must not hide the
channels' errors, campaign files that would be ignored; and the commands that index a
message's times never crash on a message with none."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable

import pytest

from samverkan import previewserver
from samverkan.approvals import awaiting, pending
from samverkan.contentchecks import check_message
from samverkan.ledger import Ledger
from samverkan.loading import Project, load_project
from samverkan.preview import select
from tests.helpers.cli import invoke
from tests.helpers.plans import CORPUS_CAMPAIGN, CORPUS_CONFIG, TZ, camp, edit

UNTIL_BEFORE_AT = CORPUS_CAMPAIGN + "    repeat: {every: 7d, until: 2018-08-01}\n"  # line 17
UNTIL_ERROR = (
    "campaigns/skolstart.yaml:17:32: error: until: 2018-08-01 is before the first time "
    "(at: 2018-08-13 07:30); nothing would be sent"
)
TOKEN_ERROR = (
    "config.yaml:32:12: error: channel facebook-polisen: token: secrets are never written in YAML: "
    "put it in an environment variable and write ${NAME} here"
)
WITH_LITERAL_TOKEN = edit(CORPUS_CONFIG, "token: ${FB_TOKEN_POLISEN}", "token: EAABsecretliteral123")


@pytest.fixture
def corpus_root(make_root: Callable[..., Path]) -> Callable[..., Path]:
    """``corpus_root(config=..., campaigns=...)``: a plan from the corpus texts."""

    def make(config: str = CORPUS_CONFIG, campaigns: dict[str, str] | None = None) -> Path:
        return make_root(config=config, campaigns={"skolstart": CORPUS_CAMPAIGN} if campaigns is None else campaigns)

    return make


def problems(root: Path) -> list[str]:
    return [str(p) for p in load_project(root).problems.sorted()]


# --- repeat.until before at -------------------------------------------------------------------


def test_repeats_that_end_before_the_first_time_are_an_error_at_until(corpus_root) -> None:
    root = corpus_root(campaigns={"skolstart": UNTIL_BEFORE_AT})
    assert problems(root) == [UNTIL_ERROR]
    assert load_project(root).broken == {"skolstart": "campaigns/skolstart.yaml"}


def test_until_on_the_day_of_at_sends_once(corpus_root) -> None:
    root = corpus_root(campaigns={"skolstart": CORPUS_CAMPAIGN + "    repeat: {every: 7d, until: 2018-08-13}\n"})
    assert problems(root) == []
    assert len(load_project(root).campaigns["skolstart"].messages[0].times) == 1


@pytest.mark.parametrize("command", ["validate", "status", "approvals"])
def test_commands_report_rather_than_crash_on_until_before_at(corpus_root, command: str) -> None:
    root = corpus_root(campaigns={"skolstart": UNTIL_BEFORE_AT})
    result = invoke(command, "--root", str(root), "--now", "2018-08-01T09:00")
    assert not isinstance(result.exception, IndexError), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == {"validate": 1, "status": 0, "approvals": 0}[command], result.output
    if command == "validate":
        assert UNTIL_ERROR in result.output.splitlines()
    if command == "status":
        assert "Campaign files with errors (nothing of them is published)\n  campaigns/skolstart.yaml\n" in result.output


def no_times(project: Project) -> Project:
    """``project`` with its one message's times gone (as a message whose repeats end
    before they start would have them), to reach the code that indexes them."""
    project.campaigns["skolstart"].messages[0].times = []
    return project


def test_code_that_indexes_times_guards_a_message_with_none(corpus_root, monkeypatch) -> None:
    root = corpus_root()
    project = no_times(load_project(root))
    campaign = project.campaigns["skolstart"]
    now = datetime(2018, 8, 1, 9, tzinfo=TZ)
    assert awaiting(project, now) == []  # no state file yet
    with Ledger(root / "state.db") as ledger:
        assert pending(project, ledger, now) == []
        assert [a.message_id for a in pending(project, ledger)] == ["skolstart/start"]
    assert select(project, "skolstart", None, now) == []
    assert check_message(project, campaign, campaign.messages[0]) == []

    monkeypatch.setattr(previewserver, "load_project", lambda r: no_times(load_project(r)))
    status, page = previewserver.App(root, "2018-08-01T09:00").message("skolstart", "start", None)
    assert status == 404 and "skickas aldrig" in page


# --- config.yaml's schema errors do not hide the channels' errors -----------------------------


def test_a_literal_secret_is_reported_beside_a_schema_error_elsewhere(corpus_root) -> None:
    root = corpus_root(config=edit(WITH_LITERAL_TOKEN, "catch_up: 6h", "catch_up: 6 hours"))
    assert problems(root) == [
        "config.yaml:19:11: error: catch_up: '6 hours' is not a duration; write e.g. 30m, 6h, 7d or 2w",
        TOKEN_ERROR,
    ]
    result = invoke("validate", "--root", str(root))
    assert result.exit_code == 1
    assert TOKEN_ERROR in result.output.splitlines()


def test_a_misspelt_channels_key_still_has_its_channels_checked_in_place(corpus_root) -> None:
    root = corpus_root(config=edit(WITH_LITERAL_TOKEN, "\nchannels:\n", "\nchanels:\n"))
    assert problems(root) == [
        "config.yaml:21:1: error: unknown key 'chanels'; did you mean 'channels'?",
        TOKEN_ERROR,
    ]


def test_channel_errors_are_reported_when_config_yaml_cannot_be_repaired(corpus_root) -> None:
    # A broken time zone is where campaigns look: no repaired config, the channels all the same.
    root = corpus_root(config=edit(WITH_LITERAL_TOKEN, "timezone: Europe/Stockholm", "timezone: 5"))
    assert problems(root) == [
        "config.yaml:18:11: error: timezone: expected text, got the number 5; put the value in quotes",
        TOKEN_ERROR,
    ]
    # A malformed channel name: that channel is not checked, the others are.
    root = corpus_root(config=edit(WITH_LITERAL_TOKEN, "  webb:\n", "  Webb:\n"))
    assert problems(root) == [
        "config.yaml:22:3: error: channels: 'Webb' is not a valid key; use lowercase letters a-z, digits, '-' and '_'",
        TOKEN_ERROR,
    ]


def test_an_unknown_time_zone_beside_a_schema_error_is_reported_and_campaigns_still_checked(corpus_root) -> None:
    config = edit(edit(CORPUS_CONFIG, "catch_up: 6h", "catch_up: 6 hours"), "timezone: Europe/Stockholm", "timezone: Europe/Stokholm")
    root = corpus_root(config=config, campaigns={"skolstart": camp("[trafik]", "[trafk]")})
    assert problems(root) == [
        "config.yaml:18:11: error: timezone: unknown time zone 'Europe/Stokholm'; did you mean 'Europe/Stockholm'?",
        "config.yaml:19:11: error: catch_up: '6 hours' is not a duration; write e.g. 30m, 6h, 7d or 2w",
        "campaigns/skolstart.yaml:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
    ]


def test_campaigns_held_back_by_config_errors_alone_are_unchecked_not_broken(corpus_root) -> None:
    root = corpus_root(
        config=edit(CORPUS_CONFIG, "catch_up: 6h", "catch_up: 6 hours"),
        campaigns={"skolstart": CORPUS_CAMPAIGN, "jul": camp("[trafik]", "[trafk]")},
    )
    project = load_project(root)
    assert project.config is None
    assert project.broken == {"jul": "campaigns/jul.yaml", "skolstart": "campaigns/skolstart.yaml"}
    assert project.unchecked == {"skolstart": "campaigns/skolstart.yaml"}
    # a config that cannot be repaired: no campaign's references can be checked, so the
    # unknown priority area of jul goes unseen and it too is only unchecked
    root = corpus_root(config=edit(CORPUS_CONFIG, "timezone: Europe/Stockholm", "timezone: 5"))
    assert load_project(root).unchecked == {"jul": "campaigns/jul.yaml", "skolstart": "campaigns/skolstart.yaml"}
    # a valid config: nothing is unchecked
    assert load_project(corpus_root()).unchecked == {}


# --- campaign files named .yml ----------------------------------------------------------------


def test_a_campaign_file_ending_in_yml_is_warned_about(corpus_root) -> None:
    root = corpus_root()
    (root / "campaigns/jul.yml").write_text(CORPUS_CAMPAIGN, encoding="utf-8")
    (root / "campaigns/skolstart.yml").write_text(CORPUS_CAMPAIGN, encoding="utf-8")
    (root / "campaigns/README.md").write_text("notes\n", encoding="utf-8")
    assert problems(root) == [
        "campaigns/jul.yml:1:1: warning: ignored: campaign files end in .yaml; rename it to jul.yaml",
        "campaigns/skolstart.yml:1:1: warning: ignored: campaign files end in .yaml; "
        "skolstart.yaml is read instead; merge the two and remove skolstart.yml",
    ]
    project = load_project(root)
    assert list(project.campaigns) == ["skolstart"]
    result = invoke("validate", "--root", str(root))
    assert "campaigns/jul.yml:1:1: warning: ignored: campaign files end in .yaml; rename it to jul.yaml" in result.output.splitlines()


def test_a_dropped_plan_is_freed(sample_root) -> None:
    """The daemon and the preview server load the plan again at every edit: each plan
    dropped, with the state rendering keeps on it, must leave nothing behind."""
    import gc

    from samverkan.plan import deliveries
    from samverkan.rendering import render
    from samverkan.validation import validate

    def load_render_drop() -> int:
        project = load_project(sample_root)
        for d in deliveries(project):
            render(project, d)  # the rendering state lives on the project
        validate(sample_root, project=project)
        del project
        gc.collect()
        return len(gc.get_objects())

    load_render_drop()  # modules and caches the first rendering brings are kept
    first = load_render_drop()
    later = [load_render_drop() for _ in range(3)]
    assert all(abs(n - first) < 500 for n in later), (first, later)  # a kept plan is tens of thousands
