"""Graph API versions: the table of end dates, validate's warning and doctor's failure
(at the time --now gives), and the version Meta answers with."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from publishers.base import Channel, MemoryJournal
from publishers.facebook import FacebookPublisher, FacebookSettings
from publishers.graphversions import DEFAULT_VERSION, GRAPH_VERSIONS, recommended_version, version_end, version_notice
from samverkan.rendering import RenderedMessage
from tests.helpers.cli import invoke
from tests.helpers.graph import GraphServer, graph_server  # noqa: F401 (fixture)
from tests.helpers.plans import REPO, campaign, message, with_channels

PAGE = "112386409275163"
TOKEN = "EAAGversionToken77"


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


def test_the_default_is_current_and_the_sample_config_uses_it() -> None:
    assert DEFAULT_VERSION == "v25.0"
    assert FacebookSettings(publisher="facebook", page_id="1").api_version == DEFAULT_VERSION
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert text.count(f"api_version: {DEFAULT_VERSION}") == 2 and "v21.0" not in text


def test_the_table_holds_metas_end_dates() -> None:
    assert version_end("v21.0") == date(2027, 1, 21)
    assert version_end("v25.0") == date(2028, 7, 29)
    assert version_end("v26.0") is None  # not dated yet
    assert version_end("v30.0") is None  # newer than the table
    assert version_end("v2.12") == GRAPH_VERSIONS["v16.0"][1]  # older than the table: long gone


@pytest.mark.parametrize(("version", "now", "expected"), [
    ("v21.0", "2026-10-22", None),  # 91 days ahead
    ("v21.0", "2026-10-23", "Graph API v21.0 ends on 2027-01-21, in 90 days; after that Meta answers its calls "
                            "with a newer version without saying so: set api_version: v25.0"),
    ("v21.0", "2027-01-21", "Graph API v21.0 ends on 2027-01-21, in 0 days; after that Meta answers its calls "
                            "with a newer version without saying so: set api_version: v25.0"),
    ("v20.0", "2026-12-08", "Graph API v20.0 ended on 2026-09-24: Meta answers its calls with a newer version, "
                            "which may behave differently; set api_version: v25.0"),
    ("v25.0", "2026-12-08", None),
])
def test_a_version_ending_within_90_days_is_noticed(version: str, now: str, expected: str | None) -> None:
    assert version_notice(version, at(now)) == expected


def test_past_the_defaults_own_notice_the_newest_living_version_is_recommended() -> None:
    assert recommended_version(at("2028-06-01")) == "v26.0"


def sample_root(tmp_path: Path, version: str) -> Path:
    """The bundled sample plan with ``version`` on both Facebook channels."""
    import shutil

    root = tmp_path / "sample"
    shutil.copytree(REPO / "campaigns", root / "campaigns")
    shutil.copytree(REPO / "content", root / "content")
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    (root / "config.yaml").write_text(text.replace(f"api_version: {DEFAULT_VERSION}", f"api_version: {version}"),
                                      encoding="utf-8")
    return root


def test_validate_warns_at_the_setting_when_the_version_ends_soon(tmp_path: Path) -> None:
    root = sample_root(tmp_path, "v21.0")
    soon = invoke("validate", "--root", str(root), "--now", "2026-12-08T09:00")
    assert soon.exit_code == 0
    line = next(i for i, text in enumerate((root / "config.yaml").read_text(encoding="utf-8").splitlines(), 1)
                if "api_version: v21.0" in text)
    assert (f"config.yaml:{line}:18: warning: channel facebook-kommunen: api_version: Graph API v21.0 ends on "
            "2027-01-21, in 44 days; after that Meta answers its calls with a newer version without saying so: "
            "set api_version: v25.0") in soon.output
    assert soon.output.count("api_version: Graph API v21.0") == 2
    assert invoke("validate", "--root", str(root), "--strict", "--now", "2026-12-08T09:00").exit_code == 1
    later = invoke("validate", "--root", str(root), "--now", "2026-06-01T09:00")
    assert "api_version" not in later.output and "0 warning(s)" in later.output


def test_doctor_on_the_sample_config_fails_on_a_version_ending_soon(tmp_path: Path) -> None:
    root = sample_root(tmp_path, "v21.0")
    env = {"FB_TOKEN_KOMMUNEN": "", "FB_TOKEN_POLISEN": ""}
    result = invoke("doctor", "--root", str(root), "--now", "2026-12-08T09:00", env=env)
    assert result.exit_code == 1
    assert ("FAIL  facebook-polisen: api version: Graph API v21.0 ends on 2027-01-21, in 44 days; after that "
            "Meta answers its calls with a newer version without saying so: set api_version: v25.0 -> change "
            "api_version in config.yaml") in result.output.splitlines()
    current = invoke("doctor", "--root", str(sample_root(tmp_path / "b", DEFAULT_VERSION)),
                     "--now", "2026-12-08T09:00", env=env)
    assert "api version" not in current.output


def test_doctor_fails_when_meta_answers_with_another_version(
    make_root: Callable[..., Path], graph_server: GraphServer  # noqa: F811
) -> None:
    graph_server.add_token(TOKEN, profile_id=PAGE)
    graph_server.served_version = "v26.0"  # as Meta does once the version asked for has ended
    channel = (f"  facebook-polisen:\n    publisher: facebook\n    page_id: \"{PAGE}\"\n"
               f"    token: ${{FB_TOKEN_POLISEN}}\n    graph_url: {graph_server.url}\n    timeout: 2\n")
    root = make_root(config=with_channels(channel))
    result = invoke("doctor", "--root", str(root), "--now", "2026-12-08T09:00", env={"FB_TOKEN_POLISEN": TOKEN})
    assert result.exit_code == 1
    assert ("FAIL  facebook-polisen: api version: asked for Graph API v25.0, Meta answered with v26.0 -> "
            "Meta no longer serves v25.0; set api_version: v26.0 in config.yaml "
            "(see https://developers.facebook.com/docs/graph-api/changelog/versions/)") in result.output.splitlines()


def test_a_post_answered_with_another_version_is_recorded_and_warned(
    tmp_path: Path, graph_server: GraphServer, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    graph_server.served_version = "v22.0"
    settings = FacebookSettings(publisher="facebook", page_id=PAGE, token="${T}", graph_url=graph_server.url,
                                api_version="v21.0", timeout=2)
    pub = FacebookPublisher(Channel("facebook-polisen", settings, tmp_path, {"T": TOKEN},
                                    clock=lambda: at("2027-02-01")))
    rendered = RenderedMessage(delivery_id="c/m/facebook-polisen", campaign="c", message="m",
                               channel="facebook-polisen", publisher="facebook", at=at("2027-02-01"),
                               embargo=None, title="T", parts={"text": "Hej"})
    receipt = pub.publish(pub.payload(rendered), "c/m/facebook-polisen", MemoryJournal())
    assert pub.served_version == "v22.0"
    assert receipt.note == ("Meta answered with Graph API v22.0, not v21.0: v21.0 ended on 2027-01-21; set "
                            "api_version: v25.0 in config.yaml "
                            "(see https://developers.facebook.com/docs/graph-api/changelog/versions/)")
    assert any(r.levelname == "WARNING" and "asked for Graph API v21.0, Meta answered with v22.0" in r.getMessage()
               for r in caplog.records)
    # The daemon's checks ahead of each delivery (and doctor) fail on it: that is the alert.
    assert [r.status for r in pub.version_checks(at("2027-02-01")) if "answered" in r.message] == ["fail"]


def test_a_plan_with_messages_validates_without_a_version_warning_today(make_root: Callable[..., Path]) -> None:
    root = make_root(campaigns={"skola": campaign(message())})
    result = invoke("validate", "--root", str(root))
    assert result.exit_code == 0 and "api_version" not in result.output
