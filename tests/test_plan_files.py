"""Files named by a plan stay inside the plan (issue 14.1): an image, a logo or a press list
that leads outside the plan's folder (an absolute path, ``..``, a symlink), that is not a
regular file, too large, or not an image by its content is a validate error at its place,
and the renderer and the publishers refuse it even when validation was skipped: its bytes
never reach a mail, the feed, Facebook or the ledger's archive."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from publishers.base import MAX_IMAGE_BYTES, Channel, MemoryJournal, PermanentError, PlanFileError, plan_file
from publishers.facebook import FacebookPublisher, FacebookSettings
from publishers.mailer import MailerPublisher, MailerSettings
from publishers.rss import RssPublisher, RssSettings
from samverkan import loading, rendering
from samverkan.rendering import ImageRef, Logo, RenderedMessage
from tests.helpers.cli import invoke, validate
from tests.helpers.graph import GraphServer, graph_server  # noqa: F401 (a fixture)
from tests.helpers.plans import FULL_CAMPAIGN, FULL_CONFIG, PNG, TZ, edit, full_root

SECRET = b"FB_TOKEN=EAAtopsecret SMTP_PASSWORD=hemligt"
IMAGE_POS = "campaigns/skolstart.yaml:15:19"  # image: {path: ...} of FULL_CAMPAIGN


def line_col(text: str, needle: str) -> str:
    """``LINE:COL`` of the first ``needle`` in ``text`` (1-based)."""
    before = text[: text.index(needle)]
    return f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


def hostile_image(root: Path, tmp_path: Path, case: str) -> str:
    """Make the plan's case ``case`` and return the image path to name in the campaign."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG + SECRET)  # even a real picture outside the plan is refused
    if case == "environ":
        return "/proc/self/environ"
    if case == "dotdot":
        return "../" * (len(root.parts) - 1) + "etc/passwd"
    if case == "absolute":
        return str(secret)
    if case == "symlink":
        (root / "content" / "bild.png").unlink()
        os.symlink(secret, root / "content" / "bild.png")
        return "content/bild.png"
    if case == "text":
        (root / "content" / "bild.png").write_bytes(SECRET)  # a text file named .png
        return "content/bild.png"
    if case == "huge":
        (root / "content" / "bild.png").write_bytes(PNG + bytes(MAX_IMAGE_BYTES))
        return "content/bild.png"
    if case == "loop":
        os.symlink("ring.png", root / "content" / "ring.png")
        return "content/ring.png"
    if case == "nul":
        return '"content/bild\\0.png"'
    if case == "folder":
        (root / "content" / "bilder.png").mkdir()
        return "content/bilder.png"
    raise AssertionError(case)


CASES = {
    "environ": "path: '/proc/self/environ' leads outside the plan's folder; put the file under content/",
    "dotdot": "leads outside the plan's folder; put the file under content/",
    "absolute": "secret.png' leads outside the plan's folder; put the file under content/",
    "symlink": "path: 'content/bild.png' leads outside the plan's folder through a symlink;",
    "text": "path: 'content/bild.png' is not a PNG, JPEG or GIF image (by its content, whatever its name)",
    "huge": "path: 'content/bild.png' is 4.1 MB, over the 4 MB an image may be (Facebook's limit for a photo); make the picture smaller",
    "folder": "path: 'content/bilder.png' is not a regular file",
    "loop": "path: 'content/ring.png' is a symlink that leads back to itself; name the file itself",
    "nul": "path: 'content/bild\\x00.png' holds a NUL character",
}


SHORT = {"environ": "leads outside the plan's folder", "symlink": "leads outside the plan's folder",
         "text": "'content/bild.png' is not a PNG, JPEG or GIF image", "huge": "'content/bild.png' is 4.1 MB, over the 4 MB"}


def campaign_with(path: str) -> str:
    return edit(FULL_CAMPAIGN, "path: content/bild.png", f"path: {path}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_refuses_an_image_that_is_not_the_plans_at_its_place(
    case: str, make_root: Callable[..., Path], tmp_path: Path
) -> None:
    root = full_root(make_root)
    path = hostile_image(root, tmp_path, case)
    (root / "campaigns" / "skolstart.yaml").write_text(campaign_with(path), encoding="utf-8")
    code, lines = validate(root)
    assert code == 1
    errors = [line for line in lines if ": error: " in line]
    if case == "nul":  # a NUL is also a character no channel can carry, said at the same value
        errors = [e for e in errors if "which no channel can carry" not in e]
    assert len(errors) == 1 and errors[0].startswith(f"{IMAGE_POS}: error: ") and CASES[case] in errors[0], lines
    assert SECRET.decode() not in "\n".join(lines)


def test_validate_accepts_the_plans_own_pictures_through_a_symlink_inside(make_root: Callable[..., Path]) -> None:
    root = full_root(make_root)
    (root / "content" / "bilder").mkdir()
    os.replace(root / "content" / "bild.png", root / "content" / "bilder" / "bild.png")
    os.symlink("bilder/bild.png", root / "content" / "bild.png")
    code, lines = validate(root)
    assert code == 0, lines


def test_validate_refuses_logos_and_a_press_list_outside_the_plan(make_root: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "press.csv").write_text("name,email,outlet\nX,x@y.example,Z\n", encoding="utf-8")
    config = edit(FULL_CONFIG, "logo: content/logo-kommunen.png", "logo: /proc/self/environ")
    config = edit(config, "recipients: content/press.csv", "recipients: ../press.csv")
    root = full_root(make_root, config=config)
    (root / "content" / "logo-polisen.png").write_text("not a picture", encoding="utf-8")
    code, lines = validate(root)
    assert code == 1
    errors = [line for line in lines if ": error: " in line]
    assert errors == [
        f"config.yaml:{line_col(config, '/proc/self/environ')}: error: logo: '/proc/self/environ' leads outside "
        "the plan's folder; put the file under content/ and name it relative to the folder of config.yaml",
        f"config.yaml:{line_col(config, 'content/logo-polisen.png')}: error: logo: 'content/logo-polisen.png' is not "
        "a PNG, JPEG or GIF image (by its content, whatever its name); save the picture as PNG or JPEG",
        f"config.yaml:{line_col(config, '../press.csv')}: error: channel press: recipients: '../press.csv' leads "
        "outside the plan's folder; put the file under content/ and name it relative to the folder of config.yaml",
    ]


# --- with validation skipped: the renderer, and behind it the publishers, refuse ----------------


def outputs(root: Path) -> bytes:
    """Every byte the plan's channels wrote: outboxes, the feed, the ledger (its archive)."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.parts[-2] != "campaigns"
                    and not p.is_relative_to(root / "content"))


@pytest.mark.parametrize("case", ["environ", "symlink", "text", "huge"])
@pytest.mark.parametrize("skipped", ["validate", "validate and render"])
def test_publish_with_validation_skipped_never_sends_the_bytes(
    case: str, skipped: str, make_root: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = full_root(make_root)
    path = hostile_image(root, tmp_path, case)
    (root / "campaigns" / "skolstart.yaml").write_text(campaign_with(path), encoding="utf-8")
    monkeypatch.setattr(loading, "_check_plan_file", lambda *a: None)  # as if validate had missed it
    if skipped == "validate and render":  # only the publishers' own check is left
        monkeypatch.setattr(rendering, "_plan_image", lambda state, project, name, *a: (project.root / name).resolve())
    # (the feed carries no image without an image_url: left to the publishers alone, it goes out)
    channels = ("press", "fb-kommunen") + (("webb",) if skipped == "validate" else ())
    for channel in channels:
        result = invoke("publish", f"skolstart/start/{channel}", "--root", str(root), "--now", "2018-08-13T07:31")
        assert result.exit_code != 0, result.output
        assert "Traceback" not in result.output
        assert SHORT[case] in result.output, result.output
    result = invoke("rehearse", "--root", str(root), "--from", "2018-08-01", "--to", "2018-08-31",
                    "--out", str(tmp_path / "repetition"), "--assume-approved")
    assert result.exit_code != 0
    assert SECRET not in outputs(root) and SECRET not in outputs(tmp_path / "repetition")
    assert not list((tmp_path / "repetition").rglob("*.eml"))
    if case == "environ":
        assert b"PATH=" not in outputs(root) + outputs(tmp_path / "repetition")


# --- the publishers on their own: a RenderedMessage built by hand -------------------------------


def rendered(root: Path, image: Path | None, logo: Path | None = None, **changes: Any) -> RenderedMessage:
    from datetime import datetime

    values: dict[str, Any] = dict(
        delivery_id="skolstart/start/x", campaign="skolstart", message="start", channel="x", publisher="x",
        at=datetime(2018, 8, 13, 7, 30, tzinfo=TZ), embargo=None, title="Nu börjar skolan",
        parts={"text": "Sänk farten.", "html": '<p>Sänk farten.</p><img src="cid:image"><img src="cid:logo-kommunen">',
               "subject": "Nu börjar skolan"},
        image=ImageRef(image, "Bild") if image else None,
        logos=(Logo("kommunen", logo, "Logotyp", "logo-kommunen"),) if logo else (),
        extra={"image_url": "https://kommun.example/bild.png"},
    )
    values.update(changes)
    return RenderedMessage(**values)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    root = tmp_path / "plan"
    (root / "content").mkdir(parents=True)
    (root / "content" / "bild.png").write_bytes(PNG)
    (root / "content" / "press.csv").write_text("name,email,outlet\nLena,lena@tidning.example,T\n", encoding="utf-8")
    (tmp_path / "secret.png").write_bytes(PNG + SECRET)
    os.symlink(tmp_path / "secret.png", root / "content" / "lank.png")
    return root


def publishers(root: Path, graph_url: str) -> list[Any]:
    return [
        MailerPublisher(Channel("press", MailerSettings.model_validate(
            {"publisher": "mailer", "from": "Trygg <trygghet@kommun.example>", "recipients": "content/press.csv"}), root)),
        FacebookPublisher(Channel("fb", FacebookSettings.model_validate(
            {"publisher": "facebook", "page_id": "101", "token": "${FB_TOKEN}", "graph_url": graph_url, "timeout": 1}),
            root, {"FB_TOKEN": "EAAtoken"})),
        RssPublisher(Channel("webb", RssSettings.model_validate(
            {"publisher": "rss", "output": "public/feed.xml", "title": "N", "link": "https://kommun.example/",
             "self_url": "https://kommun.example/feed.xml", "description": "D"}), root)),
    ]


@pytest.mark.parametrize("name", ["/proc/self/environ", "content/lank.png", "../secret.png", "content/press.csv"])
def test_each_publisher_refuses_an_image_that_is_not_the_plans(
    name: str, plan: Path, graph_server: GraphServer  # noqa: F811
) -> None:
    for pub in publishers(plan, graph_server.url):
        with pytest.raises(PermanentError) as caught:
            payload = pub.payload(rendered(plan, plan / name))
            pub.publish(payload, "skolstart/start/x", MemoryJournal())
        assert SECRET.decode() not in str(caught.value)
    assert graph_server.requests == []
    assert not (plan / "public").exists() and not (plan / "outbox").exists()


def test_the_mailer_refuses_a_logo_and_a_press_list_that_are_not_the_plans(plan: Path, tmp_path: Path) -> None:
    mailer = publishers(plan, "http://127.0.0.1:9/")[0]
    with pytest.raises(PermanentError, match="leads outside the plan's folder through a symlink"):
        mailer.payload(rendered(plan, plan / "content" / "bild.png", logo=plan / "content" / "lank.png"))
    (plan / "content" / "press.csv").unlink()
    os.symlink(tmp_path / "secret.png", plan / "content" / "press.csv")
    with pytest.raises(PermanentError, match="'content/press.csv' leads outside the plan's folder through a symlink"):
        mailer.recipients()


def test_the_publishers_still_take_the_plans_own_picture(plan: Path, graph_server: GraphServer) -> None:  # noqa: F811
    mailer, facebook, rss = publishers(plan, graph_server.url)
    eml = mailer.payload(rendered(plan, plan / "content" / "bild.png")).files["press.eml"]
    assert b"Content-Type: image/png" in eml
    assert facebook.payload(rendered(plan, plan / "content" / "bild.png")).fields["source"]["content_type"] == "image/png"
    assert rss.payload(rendered(plan, plan / "content" / "bild.png")).fields["enclosure"]["length"] == str(len(PNG))


def test_plan_file_never_waits_on_a_pipe(plan: Path) -> None:
    os.mkfifo(plan / "content" / "ror.png")
    with pytest.raises(PlanFileError, match="is not a regular file"):
        plan_file(plan, "content/ror.png", image=True)


def test_a_template_that_links_outside_the_plan_is_not_rendered(make_root: Callable[..., Path], tmp_path: Path) -> None:
    secret = tmp_path / "hemlig.txt"
    secret.write_bytes(SECRET)
    root = full_root(make_root)
    (root / "content" / "templates" / "rss").mkdir(parents=True)
    os.symlink(secret, root / "content" / "templates" / "rss" / "item.html.j2")
    code, lines = validate(root)
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        "content/templates/rss/item.html.j2:1:1: error: template rss/item.html.j2: 'content/templates/rss/item.html.j2' "
        "leads outside the plan's folder through a symlink; put the file under content/ and name it relative to the "
        "folder of config.yaml (rendering skolstart/start for webb)"
    ]
    result = invoke("publish", "skolstart/start/webb", "--root", str(root), "--now", "2018-08-13T07:31")
    assert result.exit_code != 0
    assert "template rss/item.html.j2: " in result.output and "leads outside the plan's folder through a symlink" in result.output
    assert SECRET not in outputs(root)


@pytest.mark.parametrize(("old", "new", "said"), [
    ("output: public/feed.xml", "output: ../../utanfor/feed.xml", "channel webb: output: '../../utanfor/feed.xml' lies outside"),
    ("output: public/feed.xml", "output: /tmp/feed.xml", "channel webb: output: '/tmp/feed.xml' lies outside"),
])
def test_what_a_channel_writes_lies_inside_the_plan(make_root: Callable[..., Path], old: str, new: str, said: str) -> None:
    from tests.helpers.plans import MINIMAL_CONFIG, campaign

    assert old in MINIMAL_CONFIG
    root = make_root(config=MINIMAL_CONFIG.replace(old, new), campaigns={"skola": campaign(bases=None)})
    code, lines = validate(root)
    assert code == 1
    assert any(said in line and line.startswith("config.yaml:") for line in lines), lines


def test_the_ledger_and_an_outbox_lie_inside_the_plan(make_root: Callable[..., Path], tmp_path: Path) -> None:
    root = full_root(make_root)
    text = (root / "config.yaml").read_text(encoding="utf-8")
    (root / "config.yaml").write_text(text.replace("timezone: Europe/Stockholm",
                                                   f"timezone: Europe/Stockholm\nstate: {tmp_path}/x.db"), encoding="utf-8")
    code, lines = validate(root)
    assert code == 1 and any(f"error: state: '{tmp_path}/x.db' lies outside the plan's folder" in line for line in lines), lines


@pytest.mark.parametrize("setting", ["link", "self_url"])
def test_the_feeds_addresses_are_web_addresses(make_root: Callable[..., Path], setting: str) -> None:
    from tests.helpers.plans import MINIMAL_CONFIG, campaign

    config = re.sub(rf"(?m)^    {setting}: .*$", f"    {setting}: javascript:alert(1)", MINIMAL_CONFIG, count=1)
    assert config != MINIMAL_CONFIG
    root = make_root(config=config, campaigns={"skola": campaign(bases=None)})
    code, lines = validate(root)
    assert code == 1 and any("'javascript:alert(1)' is not a web address" in line for line in lines), lines
