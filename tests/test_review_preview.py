"""Previews and checks of an embargoed message show each channel as it is published: the
press release at ``at``, the public channels when the embargo ends."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from html import escape
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from samverkan.approvals import awaiting
from samverkan.cli import cli
from samverkan.contentchecks import check_content, check_message
from samverkan.loading import load_project
from samverkan.previewserver import App
from tests.helpers.plans import FULL_CONFIG, TZ, full_root, with_message_keys

NOW = "2018-08-01T09:00"
EMBARGOED = with_message_keys("embargo: 2018-08-14 10:00\n")  # at: 2018-08-13 07:30
EMBARGO = "2018-08-14T10:00:00+02:00"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def pub_date(payload_json: Path) -> str:
    found = re.search(r'"pubDate": "([^"]+)"', payload_json.read_text(encoding="utf-8"))
    assert found, payload_json.read_text(encoding="utf-8")
    return found.group(1)


def test_preview_of_an_embargoed_sample_message_writes_every_channel(sample_root: Path, tmp_path: Path) -> None:
    campaign = sample_root / "campaigns/2018-unga-och-gang.yaml"
    text = campaign.read_text(encoding="utf-8")
    assert "    embargo: 2018-10-02 10:00\n    channels: [press]\n" in text
    campaign.write_text(text.replace("    channels: [press]\n", "    channels: [press, webb]\n", 1), encoding="utf-8")
    target, common = "2018-unga-och-gang/pressmeddelande", ("--root", str(sample_root), "--now", "2018-09-01T00:00")

    out = tmp_path / "all"
    result = run("preview", target, "--out", str(out), *common)
    assert result.exit_code == 0, result.output
    folder = out / target
    assert sorted(p.name for p in folder.iterdir()) == ["press", "webb"]
    assert "EMBARGO" in (folder / "press/press.eml").read_text(encoding="utf-8")

    one = tmp_path / "webb"
    result = run("preview", target, "--channel", "webb", "--out", str(one), *common)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (one / target).iterdir()) == ["webb"]
    assert pub_date(one / target / "webb/payload.json") == "2018-10-02T10:00:00+02:00"  # the embargo

    # what publishing would write
    result = run("publish", f"{target}/webb", "--dry-run", *common)
    assert result.exit_code == 0, result.output
    assert "    pubDate: 2018-10-02T10:00:00+02:00" in result.output.splitlines()


def test_the_previewed_pubdate_is_the_one_publish_writes_in_the_feed(make_root, tmp_path: Path) -> None:
    root = full_root(make_root, campaigns={"skolstart": EMBARGOED})
    result = run("preview", "skolstart/start", "--channel", "webb", "--out", str(tmp_path / "p"), "--root", str(root), "--now", NOW)
    assert result.exit_code == 0, result.output
    previewed = pub_date(tmp_path / "p/skolstart/start/webb/payload.json")
    assert previewed == EMBARGO

    result = run("publish", "skolstart/start/webb", "--root", str(root), "--now", "2018-08-14T10:00")
    assert result.exit_code == 0, result.output
    feed = (root / "public/feed.xml").read_text(encoding="utf-8")
    published = re.search(r"<pubDate>([^<]+)</pubDate>", feed.split("<item>", 1)[1])
    assert published, feed
    assert parsedate_to_datetime(published.group(1)) == datetime.fromisoformat(previewed)


def test_the_preview_page_shows_each_channel_at_its_own_time(make_root) -> None:
    root = full_root(make_root, campaigns={"skolstart": EMBARGOED})
    app = App(root, NOW)
    status, index = app.index()
    assert status == 200
    links = re.findall(r'<a href="(/m/skolstart/start\?at=[^"]+)">', index)
    assert len(links) == 2  # the press release on the 13th, the public channels on the 14th

    pages = []
    for link in links:
        at = link.split("?at=", 1)[1].replace("%3A", ":").replace("%2B", "+")
        status, page = app.message("skolstart", "start", at)
        assert status == 200
        pages.append(page)
    assert pages[0] == pages[1]  # either link opens the message
    page = pages[0]
    webb = page.split('<h2 id="ch-webb">', 1)[1].split("</section>", 1)[0]
    assert escape(f'"pubDate": "{EMBARGO}"') in webb
    assert "Publiceras här: <time" in webb
    press = page.split('<h2 id="ch-press">', 1)[1].split("</section>", 1)[0]
    assert "<strong>Ämne:</strong> EMBARGO till tisdag 14 augusti 2018 kl. 10.00: Nu börjar skolan" in press
    assert "Publiceras här" not in press


def test_content_checks_render_a_public_channel_after_the_embargo(make_root) -> None:
    # A plan's rss template that fails for a text still under embargo: the rss item is
    # published after the embargo, so it never is, and validate must not say it does.
    template = "{% if message.embargo %}{{ not_defined }}{% endif %}{{ message.body_html }}\n"
    root = full_root(make_root, campaigns={"skolstart": EMBARGOED}, templates={"rss/item.html.j2": template})
    project = load_project(root)
    assert project.problems.errors == []
    assert [p for p in check_content(project) if p.severity == "error"] == []
    campaign = project.campaigns["skolstart"]
    assert [p for p in check_message(project, campaign, campaign.messages[0]) if p.severity == "error"] == []


def test_an_embargoed_message_awaits_approval_until_its_public_channels_go_out(make_root) -> None:
    config = FULL_CONFIG.replace("approval: []", "approval: [kommunen, polisen]")
    root = full_root(make_root, campaigns={"skolstart": EMBARGOED}, config=config)
    project = load_project(root)
    after_the_press_release = datetime(2018, 8, 13, 12, 0, tzinfo=TZ)
    assert [a.message_id for a in awaiting(project, after_the_press_release)] == ["skolstart/start"]
    assert awaiting(project, datetime(2018, 8, 14, 10, 1, tzinfo=TZ)) == []
