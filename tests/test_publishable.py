"""What validates can be published (issue 14, point 3): a character no channel can carry,
an address that is not one, a bad press-list line, a Facebook text over Facebook's limit
and a link that is no web address all fail ``validate`` at their place; and where
validation was skipped, the publishers and previews refuse or drop them instead of raising."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from publishers.base import Channel, MemoryJournal, PermanentError
from publishers.rss import RssPublisher, RssSettings
from samverkan.ledger import Ledger
from samverkan.loading import load_project
from samverkan.plan import deliveries as plan_deliveries
from samverkan.publishing import Publishing
from samverkan.rendering import RenderedMessage, render_message
from tests.helpers.cli import validate
from tests.helpers.daemon import DaemonProcess
from tests.helpers.plans import FULL_CAMPAIGN, FULL_CONFIG, MINIMAL_CONFIG, TZ, campaign, edit, full_root, message

UNCARRIABLE = "which no channel can carry; remove it (in the file, an escape in double quotes such as \\v, \\0 or \\uFFFE)"


# --- characters no channel can carry -------------------------------------------------------


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if ": error: " in line]


@pytest.mark.parametrize(("escape", "what"), [
    ("\\v", "a control character, U+000B,"),
    ("\\a", "a control character, U+0007,"),
    ("\\0", "a control character, U+0000,"),
    ("\\e", "a control character, U+001B,"),
    ("\\uFFFE", "a character that is not text, U+FFFE,"),
])
def test_a_control_character_in_a_title_is_an_error_at_the_title(make_root, escape: str, what: str) -> None:
    text = edit(FULL_CAMPAIGN, "title: Nu börjar skolan", f'title: "Varning {escape} nu"')
    code, lines = validate(full_root(make_root, {"skolstart": text}))
    assert code == 1
    assert errors(lines) == [f"campaigns/skolstart.yaml:13:12: error: title: character 9 is {what} {UNCARRIABLE}"]


def test_every_text_field_is_checked_at_its_own_place(make_root) -> None:
    text = edit(FULL_CAMPAIGN, "summary: Trafiken runt skolorna.", 'summary: "Trafiken\\b"')
    text = edit(text, "location: Aulan", 'location: "Aulan\\x01"')
    text = edit(text, "alt: Ett övergångsställe}", 'alt: "Ett \\x7F\\x1F"}')
    text += '    vars: {rubrik: "Viktigt\\f"}\n'
    text += '    overrides:\n      fb-kommunen: {body: "Kort\\0"}\n'
    code, lines = validate(full_root(make_root, {"skolstart": text}))
    assert code == 1
    assert errors(lines) == [
        f"campaigns/skolstart.yaml:2:10: error: summary: character 9 is a control character, U+0008, {UNCARRIABLE}",
        f"campaigns/skolstart.yaml:9:15: error: location: character 6 is a control character, U+0001, {UNCARRIABLE}",
        # (U+007F, DEL, is allowed in XML 1.0: the first that is not is the U+001F after it)
        f"campaigns/skolstart.yaml:15:42: error: alt: character 6 is a control character, U+001F, {UNCARRIABLE}",
        f"campaigns/skolstart.yaml:21:20: error: rubrik: character 8 is a control character, U+000C, {UNCARRIABLE}",
        f"campaigns/skolstart.yaml:23:27: error: body: character 5 is a control character, U+0000, {UNCARRIABLE}",
    ]


def test_config_texts_are_checked_too(make_root) -> None:
    config = edit(FULL_CONFIG, "name: Testkommun", 'name: "Testkommun\\u0007"')
    config = edit(config, "title: Nyheter", 'title: "Nyheter\\uFFFF"')
    code, lines = validate(full_root(make_root, config=config))
    assert code == 1
    assert errors(lines) == [
        f"config.yaml:6:13: error: name: character 11 is a control character, U+0007, {UNCARRIABLE}",
        f"config.yaml:23:12: error: title: character 8 is a character that is not text, U+FFFF, {UNCARRIABLE}",
    ]


@pytest.mark.parametrize("escape", ["\\N", "\\L", "\\P"])
def test_a_line_break_of_any_kind_in_a_one_line_field_is_an_error(make_root, escape: str) -> None:
    # NEL, LINE and PARAGRAPH SEPARATOR are text, but a mail header would break at them.
    text = edit(FULL_CAMPAIGN, "title: Nu börjar skolan", f'title: "Nu {escape}börjar"')
    code, lines = validate(full_root(make_root, {"skolstart": text}))
    assert errors(lines) == ["campaigns/skolstart.yaml:13:12: error: title: must be one line"]


def test_a_template_that_writes_a_control_character_is_an_error_at_the_message(make_root) -> None:
    root = full_root(make_root, templates={"rss/item.html.j2": "<p>{{ message.title }}\x07</p>\n"})
    code, lines = validate(root)
    assert code == 1
    assert errors(lines) == [
        "campaigns/skolstart.yaml:11:5: error: the html part as rendered: character 20 is a control character, "
        f"U+0007, {UNCARRIABLE}; look in its template and the template variables (channel: webb)"
    ]


def rss_channel(root: Path) -> Channel:
    settings = RssSettings.model_validate({
        "publisher": "rss", "output": "public/feed.xml", "title": "Nyheter", "link": "https://kommun.example/",
        "self_url": "https://kommun.example/feed.xml", "description": "Nyheter"})
    return Channel("webb", settings, root, env={})


def rendered(**changes: Any) -> RenderedMessage:
    values: dict[str, Any] = dict(
        delivery_id="skolstart/start/webb", campaign="skolstart", message="start", channel="webb", publisher="rss",
        at=datetime(2018, 8, 13, 7, 30, tzinfo=TZ), embargo=None, title="Nu börjar skolan",
        parts={"html": "<p>Sänk farten.</p>"}, link="https://kommun.example/skolstart")
    values.update(changes)
    return RenderedMessage(**values)


@pytest.mark.parametrize("title", ["Varning \v nu", "Varning \x00 nu", "Varning \ufffe nu", "Varning \ud800 nu"])
def test_the_rss_publisher_fails_the_delivery_clearly_instead_of_raising(tmp_path: Path, title: str) -> None:
    pub = RssPublisher(rss_channel(tmp_path))
    with pytest.raises(PermanentError, match=r"^webb: the item's title cannot go into the feed: character 9 is "):
        pub.payload(rendered(title=title))
    # an item already in the ledger (from before this check) fails the delivery, not the daemon
    good = pub.payload(rendered())
    with pytest.raises(PermanentError, match=r"^webb: the feed cannot be written: "):
        pub.publish(good, "skolstart/start/webb", MemoryJournal([{**good.fields, "guid": "x", "title": title}]))
    assert not (tmp_path / "public/feed.xml").exists()


def skipped_validation(root: Path, **changes: Any) -> Any:
    """The plan of ``root`` with the message's fields replaced as the loader would refuse them."""
    project = load_project(root)
    campaign = project.campaigns["skolstart"]
    message = campaign.messages[0]
    message.model = message.model.model_copy(update=changes)  # (model_copy does not validate)
    return project


def test_a_publication_with_a_character_no_channel_can_carry_is_held_not_raised(make_root) -> None:
    root = full_root(make_root)
    project = skipped_validation(root, title="Varning \v nu")
    with Ledger(root / "state/samverkan.db") as ledger:
        publishing = Publishing(project, ledger, lambda: datetime(2018, 8, 13, 7, 31, tzinfo=TZ))
        due = [d for d in plan_deliveries(project) if d.channel == "webb"]
        outcome = publishing.publish(due[0])
        assert outcome.result == "held"
        assert outcome.detail.startswith("the campaign does not validate: campaigns/skolstart.yaml:11:5: error: the ")
        assert "a control character, U+000B" in outcome.detail
    assert not (root / "public/feed.xml").exists()


def test_a_hostile_title_does_not_stop_the_daemon_or_the_other_campaigns(make_root) -> None:
    # On main the title validated, the feed raised when it was due, and the daemon died, at
    # every restart again (catch-up retried the same delivery first).
    hostile = campaign(message(title='"Varning \\v nu"', at="2018-08-13 07:30"))
    valid = campaign(message("senare", "2018-08-13 07:31", "Sänk farten"), title="Trafik i höst")
    root = make_root(config=MINIMAL_CONFIG, campaigns={"hostile": hostile, "valid": valid})
    daemon = DaemonProcess(root, now="2018-08-13T07:30:58")
    try:
        daemon.wait_event("published", "valid/senare/webb")
        assert daemon.proc.poll() is None  # still running
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.stop()
    again = DaemonProcess(root, now="2018-08-13T07:32:00")  # a restart, with the hostile one past due
    try:
        again.wait_event("started")
        again.signal(signal.SIGTERM)
        assert again.wait() == 0
    finally:
        again.stop()
    feed = (root / "public/feed.xml").read_text(encoding="utf-8")
    assert "Sänk farten" in feed and "Varning" not in feed
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.get("valid/senare/webb").state == "published"
        assert ledger.get("hostile/start/webb") is None  # a broken file: nothing of it is published


# --- links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["javascript:alert(document.cookie)", "'data:text/html,<script>x</script>'",
                                  "file:///etc/passwd", "JavaScript:alert(1)", "www.kommun.example/skolstart",
                                  "https://"])
def test_a_link_that_is_not_a_web_address_is_an_error(make_root, link: str) -> None:
    text = edit(FULL_CAMPAIGN, "link: https://kommun.example/skolstart", f"link: {link}")
    code, lines = validate(full_root(make_root, {"skolstart": text}))
    assert code == 1
    shown = link.strip("'")
    assert errors(lines) == [
        f"campaigns/skolstart.yaml:14:11: error: link: '{shown}' is not a web address; write it as https://..., "
        "the only kind of link that is published (javascript:, data: or file: links are never sent to readers)"
    ]


def test_a_plain_http_link_is_still_only_a_warning(make_root) -> None:
    text = edit(FULL_CAMPAIGN, "link: https://kommun.example/skolstart", "link: http://kommun.example/skolstart")
    code, lines = validate(full_root(make_root, {"skolstart": text}))
    assert code == 0
    assert any(line.startswith("campaigns/skolstart.yaml:14:11: warning: link: 'http://kommun.example/skolstart' "
                               "is not an https:// address") for line in lines)


def test_the_rss_publisher_never_writes_a_javascript_link(tmp_path: Path) -> None:
    pub = RssPublisher(rss_channel(tmp_path))
    payload = pub.payload(rendered(link="javascript:alert(1)"))
    assert payload.fields["link"] == "https://kommun.example/"  # the site's, as for a message without a link
    assert b"javascript" not in payload.files["item.xml"]


def test_a_javascript_link_is_never_rendered_for_a_channel_or_preview(make_root) -> None:
    root = full_root(make_root)
    project = skipped_validation(root, link="javascript:alert(1)")
    for channel in ("webb", "fb-kommunen", "press"):
        out = render_message(project, "skolstart", "start", channel)
        assert out.link is None
        assert not any("javascript" in text for text in out.parts.values())


# --- e-mail addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(("sender", "why"), [
    ("press@kommun.example, info@kommun.example", "; write e.g. \"Trygg i Hultsfred <trygghet@kommun.se>\""),
    ("Trygg i Test", "; write e.g. \"Trygg i Hultsfred <trygghet@kommun.se>\""),
    ("Trygg <press@kommun>", ""),
])
def test_a_from_that_is_not_one_address_is_an_error(make_root, sender: str, why: str) -> None:
    config = edit(FULL_CONFIG, 'from: "Trygg i Test <trygghet@kommun.example>"', f'from: "{sender}"')
    code, lines = validate(full_root(make_root, config=config))
    assert code == 1
    if why:
        assert errors(lines) == [f"config.yaml:37:11: error: channel press: from: '{sender}' is not one e-mail address{why}"]
    else:
        assert errors(lines) == [
            "config.yaml:37:11: error: channel press: from: 'press@kommun' is not one e-mail address "
            "(the part after the @-sign is not valid. It should have a period)"]


def test_a_press_contact_and_an_alert_address_must_be_one_address(make_root) -> None:
    config = edit(FULL_CONFIG, "email: press@polisen.example", "email: press(at)polisen.example")
    config += "alerts:\n  mail: {channel: press, to: [drift@kommun.example, 'jour@kommun.example;x@y.se']}\n"
    code, lines = validate(full_root(make_root, config=config))
    assert code == 1
    assert errors(lines) == [
        "config.yaml:14:83: error: email: 'press(at)polisen.example' is not one e-mail address "
        "(an email address must have an @-sign)",
        "config.yaml:43:53: error: to: 'jour@kommun.example;x@y.se' is not one e-mail address "
        "(the part after the @-sign contains invalid characters: ';', '@')",
    ]


def test_an_international_domain_name_is_an_address(make_root) -> None:
    config = edit(FULL_CONFIG, "email: press@polisen.example", "email: press@polisen-växjö.example")
    code, lines = validate(full_root(make_root, config=config))
    assert errors(lines) == []


# --- the press list ------------------------------------------------------------------------


def test_bad_lines_of_a_csv_press_list_are_errors_at_their_line(make_root) -> None:
    root = full_root(make_root)
    (root / "content/press.csv").write_text(
        "name,email,outlet\n"
        "Lena Berg,lena@tidning.example,Tidningen\n"
        "Ola Ek,ola(at)tidning.example,Radion\n"
        "Siv Ros,siv@tv.example,TV, Kanal 1\n"
        "Kim,,Bladet\n", encoding="utf-8")
    code, lines = validate(root)
    assert code == 1
    tail = "; fix or remove the line (the release goes to the others without it)"
    assert errors(lines) == [
        f"content/press.csv:3:8: error: 'ola(at)tidning.example' is not one e-mail address "
        f"(an email address must have an @-sign){tail}",
        f"content/press.csv:4:1: error: 4 fields where the first line names 3 (name,email,outlet); "
        f"put a field with a comma in quotes{tail}",
        f"content/press.csv:5:1: error: no e-mail address{tail}",
    ]


def test_bad_lines_of_a_yaml_press_list_are_errors_at_their_place(make_root) -> None:
    config = edit(FULL_CONFIG, "recipients: content/press.csv", "recipients: content/press.yaml")
    root = full_root(make_root, config=config)
    (root / "content/press.yaml").write_text(
        "- {name: Lena Berg, email: lena@tidning.example, outlet: Tidningen}\n"
        "- name: Ola Ek\n"
        "  email: ola@@tidning.example\n"
        "- Siv Ros\n", encoding="utf-8")
    code, lines = validate(root)
    assert code == 1
    tail = "; fix or remove the line (the release goes to the others without it)"
    assert errors(lines) == [
        f"content/press.yaml:3:10: error: 'ola@@tidning.example' is not one e-mail address "
        f"(the part after the @-sign contains invalid characters: '@'){tail}",
        f"content/press.yaml:4:3: error: expected {{name, email, outlet}}{tail}",
    ]
    (root / "content/press.yaml").write_text("name: Lena\n", encoding="utf-8")
    code, lines = validate(root)
    assert errors(lines) == ["content/press.yaml:1:1: error: expected a list of {name, email, outlet}; "
                             "nobody on the press list can get a release"]


# --- Facebook's limit ----------------------------------------------------------------------


def test_a_facebook_text_over_facebooks_limit_is_an_error(make_root) -> None:
    long = "Sänk farten. " * 5000  # 65,000 characters: Facebook's limit is 63,206
    text = FULL_CAMPAIGN + f"    overrides:\n      fb-kommunen: {{body: '{long.strip()}'}}\n"
    code, lines = validate(full_root(make_root, {"skolstart": text}))
    assert code == 1
    assert errors(lines) == [
        "campaigns/skolstart.yaml:22:27: error: the Facebook post is 65178 characters, over Facebook's limit of "
        "63206: it would be refused; shorten it or give a short text in overrides (channel: fb-kommunen)"
    ]


@pytest.mark.parametrize("text", ["[" * 2000 + "]" * 2000, "- {name: A, email: a@tidning.example}\n- \x00\n"])
def test_a_hostile_yaml_press_list_is_an_error_not_a_crash(make_root, text: str) -> None:
    config = edit(FULL_CONFIG, "recipients: content/press.csv", "recipients: content/press.yaml")
    root = full_root(make_root, config=config)
    (root / "content/press.yaml").write_text(text, encoding="utf-8")
    code, lines = validate(root)
    assert code == 1
    assert [e for e in errors(lines) if e.startswith("content/press.yaml:")], lines
    assert not any("Traceback" in line for line in lines)


def test_a_press_list_that_is_not_the_plans_is_never_read(make_root, tmp_path) -> None:
    """Outside the plan or over the size limit: refused at its setting, and not parsed (a
    50 MB list took a minute and a gigabyte to be told it was too large)."""
    outside = tmp_path / "hemlig.csv"
    outside.write_text("name,email,outlet\nA,a@tidning.example,T\n", encoding="utf-8")
    config = edit(FULL_CONFIG, "recipients: content/press.csv", f"recipients: {outside}")
    root = full_root(make_root, config=config)
    code, lines = validate(root)
    assert code == 1
    assert [e for e in errors(lines) if "leads outside the plan's folder" in e]
    assert not [e for e in errors(lines) if e.startswith(str(outside))]
