"""The instagram publisher against the fake Graph API's content publishing flow
(tests/helpers/graph.py): container, wait until finished, publish."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from publishers.base import Channel, MemoryJournal, OutcomeUnknown, PermanentError, TransientError, UncertainError
from publishers.instagram import InstagramPublisher, InstagramSettings
from samverkan.rendering import ImageRef, RenderedMessage
from tests.helpers.cli import invoke
from tests.helpers.graph import GraphServer, graph_error, graph_server, late  # noqa: F401 (fixture)
from publishers.base import public_image_name
from tests.helpers.plans import PNG, campaign, message, with_channels

ACCOUNT = "17841400008460056"
TOKEN = "EAAGigInstagramToken123"
ENV = {"IG_TOKEN": TOKEN}
CAPTION = "Mopeden är inget leksak – kör lugnt!\n\n/ Kommunen och polisen"
DELIVERY = "moped/start/instagram"
BASE = "https://www.hultsfred.se/trygghet/bilder/"
JPEG = b"\xff\xd8\xff\xe0" + bytes(60)  # Instagram takes JPEG only
# where the website's feed publishes the pictures, and so where Instagram fetches them
UNG = BASE + public_image_name("moped ung.jpg", JPEG).replace(" ", "%20")
MOPED = BASE + public_image_name("moped.jpg", JPEG)


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for when in ("setup", "call"):
        assert all(TOKEN not in r.getMessage() for r in caplog.get_records(when))


class Clock:
    """A monotonic clock that moves only when the publisher sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def publisher(root: Path, url: str, clock: Clock | None = None, **settings: object) -> InstagramPublisher:
    values: dict[str, object] = {"publisher": "instagram", "account_id": ACCOUNT, "token": "${IG_TOKEN}",
                                 "graph_url": url, "media_base_url": BASE, "timeout": 0.5,
                                 "poll_every": 2, "wait_for": 10}
    values.update(settings)
    pub = InstagramPublisher(Channel("instagram", InstagramSettings(**values), root, ENV))
    clock = clock or Clock()
    pub.sleep, pub.monotonic = clock.sleep, clock
    return pub


def rendered(root: Path, image: bool = True, caption: str = CAPTION) -> RenderedMessage:
    path = root / "content" / "images" / "moped ung.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(JPEG)
    return RenderedMessage(delivery_id=DELIVERY, campaign="moped", message="start", channel="instagram",
                           publisher="instagram", at=datetime(2018, 5, 2, 16, 0, tzinfo=timezone.utc), embargo=None,
                           title="Mopeden", parts={"text": caption + "\n"},
                           image=ImageRef(path, "En moped på en grusväg") if image else None)


def test_the_flow_end_to_end_container_polls_then_publish(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.container_states("IN_PROGRESS", "IN_PROGRESS", "FINISHED")
    clock = Clock()
    pub = publisher(tmp_path, graph_server.url, clock)
    journal = MemoryJournal()

    receipt = pub.publish(pub.payload(rendered(tmp_path)), DELIVERY, journal)

    calls = [(r.method, r.edge or ("container" if r.node in graph_server.containers else r.node))
             for r in graph_server.requests]
    assert calls == [("POST", "media"), ("GET", "container"), ("GET", "container"), ("GET", "container"),
                     ("POST", "media_publish"), ("GET", receipt.external_id)]
    create = graph_server.requests[0]
    assert create.path == f"/v25.0/{ACCOUNT}/media"
    assert create.form == {"image_url": UNG, "caption": CAPTION, "access_token": TOKEN}
    assert graph_server.requests[4].form["creation_id"] == next(iter(graph_server.containers))
    assert all("access_token" not in r.query and r.query.get("locale") == "sv_SE" for r in graph_server.requests)
    assert clock.sleeps == [2, 2]
    [media] = graph_server.media[ACCOUNT]
    assert (receipt.external_id, receipt.url) == (media["id"], media["permalink"])
    assert media["caption"] == CAPTION
    assert journal.part_state("post") == "sent"


def test_a_container_that_stays_in_progress_is_a_transient_failure_and_is_used_again(
    tmp_path: Path, graph_server: GraphServer  # noqa: F811
) -> None:
    graph_server.container_states("IN_PROGRESS")  # forever
    clock = Clock()
    pub = publisher(tmp_path, graph_server.url, clock)
    journal = MemoryJournal()
    payload = pub.payload(rendered(tmp_path))

    with pytest.raises(TransientError) as info:
        pub.publish(payload, DELIVERY, journal)

    assert type(info.value) is TransientError
    assert "Instagram has not finished preparing the image within 10s" in str(info.value)
    assert "nothing was published" in str(info.value)
    assert sum(clock.sleeps) == 10 and not [r for r in graph_server.requests if r.edge == "media_publish"]
    # The next attempt polls the same container, which is ready by now: no second container.
    [container] = graph_server.containers.values()
    container["polls"] = ["FINISHED"]
    pub.publish(payload, DELIVERY, journal)
    assert len(graph_server.containers) == 1 and len(graph_server.media[ACCOUNT]) == 1


def test_a_container_that_ends_in_error_is_permanent_with_metas_message(
    tmp_path: Path, graph_server: GraphServer  # noqa: F811
) -> None:
    graph_server.container_states("IN_PROGRESS", "ERROR")
    pub = publisher(tmp_path, graph_server.url)
    journal = MemoryJournal()
    with pytest.raises(PermanentError) as info:
        pub.publish(pub.payload(rendered(tmp_path)), DELIVERY, journal)
    assert str(info.value) == (
        f'Instagram could not make a post of {UNG} for instagram (Instagram says: "Error: 2207052"): '
        "make sure the address opens publicly and is a JPEG of at most 8 MB with an aspect ratio between 4:5 and "
        "1.91:1, then publish again")
    assert ACCOUNT not in graph_server.media
    assert journal.part_state("container") == "refused"


def test_an_uncertain_publish_is_looked_for_before_trying_again(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(rendered(tmp_path))
    journal = MemoryJournal()
    graph_server.script(late(30, edge="media_publish"))  # published, but the answer comes too late
    with pytest.raises(UncertainError):
        pub.publish(payload, DELIVERY, journal)
    graph_server.add_media(ACCOUNT, "Något annat")

    again = pub.publish(payload, DELIVERY, journal)

    [ours] = [m for m in graph_server.media[ACCOUNT] if m["caption"] == CAPTION]
    assert again.external_id == ours["id"]
    assert len([r for r in graph_server.requests if r.edge == "media_publish"]) == 1


def test_an_uncertain_publish_that_cannot_be_settled_is_unknown(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    pub = publisher(tmp_path, graph_server.url)
    journal = MemoryJournal()
    journal.set_part("post", "in_flight")  # when it began is not recorded
    with pytest.raises(OutcomeUnknown, match="cannot tell whether moped/start/instagram went out"):
        pub.publish(pub.payload(rendered(tmp_path)), DELIVERY, journal)
    assert graph_server.writes() == []


def test_errors_are_sorted_as_for_facebook(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.script(graph_error(190, "Session has expired", subcode=463))
    pub = publisher(tmp_path, graph_server.url)
    with pytest.raises(PermanentError) as info:
        pub.publish(pub.payload(rendered(tmp_path)), DELIVERY, MemoryJournal())
    assert str(info.value) == "the access token for instagram has expired: create a new one and set IG_TOKEN"


def test_without_a_token_the_post_goes_to_the_outbox(tmp_path: Path) -> None:
    pub = publisher(tmp_path, "http://127.0.0.1:9/", token=None)
    receipt = pub.publish(pub.payload(rendered(tmp_path)), DELIVERY, MemoryJournal())
    written = json.loads((tmp_path / "outbox" / "instagram" / "moped--start--instagram.json").read_text("utf-8"))
    assert written["params"] == {"image_url": UNG, "caption": CAPTION}
    assert receipt.note is not None and "wrote outbox/instagram/moped--start--instagram.json" in receipt.note


def test_a_message_without_an_image_or_base_url_cannot_be_built(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="Instagram publishes only posts with a picture"):
        publisher(tmp_path, "http://127.0.0.1:9/").payload(rendered(tmp_path, image=False))
    with pytest.raises(PermanentError, match="media_base_url is not set"):
        publisher(tmp_path, "http://127.0.0.1:9/", media_base_url=None).payload(rendered(tmp_path))


# -- validate and doctor ----------------------------------------------------------------------


def instagram_channel(url: str = "https://graph.facebook.com/", base: str | None = BASE) -> str:
    text = (f"  instagram:\n    publisher: instagram\n    account_id: \"{ACCOUNT}\"\n    token: ${{IG_TOKEN}}\n"
            f"    graph_url: {url}\n")
    return text + (f"    media_base_url: {base}\n" if base else "")


def plan(make_root: Callable[..., Path], body: str = "Kör lugnt.", image: bool = True, base: str | None = BASE,
         url: str = "https://graph.facebook.com/") -> Path:
    msg = message(channels="[webb, instagram]", body=body)
    if image:
        msg += "    image: {path: content/images/moped.jpg, alt: En moped}\n"
    root = make_root(config=with_channels(instagram_channel(url, base)), campaigns={"moped": campaign(msg)})
    (root / "content" / "images").mkdir(parents=True, exist_ok=True)
    (root / "content" / "images" / "moped.jpg").write_bytes(JPEG)
    return root


def test_validate_accepts_a_message_with_an_image(make_root: Callable[..., Path]) -> None:
    result = invoke("validate", "--root", str(plan(make_root)))
    assert result.exit_code == 0, result.output


def test_validate_refuses_a_message_without_an_image(make_root: Callable[..., Path]) -> None:
    result = invoke("validate", "--root", str(plan(make_root, image=False)))
    assert result.exit_code == 1
    assert ("campaigns/moped.yaml:7:5: error: channel instagram: Instagram publishes only posts with a picture: add "
            "image: {path: ..., alt: ...} to the message, or leave this channel out of its channels") in result.output


def test_validate_refuses_captions_over_instagrams_limits(make_root: Callable[..., Path]) -> None:
    long = invoke("validate", "--root", str(plan(make_root, body="Kör lugnt. " * 220)))
    assert long.exit_code == 1
    assert "campaigns/moped.yaml:11:11: error: channel instagram: the Instagram caption is" in long.output
    assert "over Instagram's 2200; shorten it or give a short text in overrides" in long.output
    tags = " ".join(f"#tagg{n}" for n in range(31))
    many = invoke("validate", "--root", str(plan(make_root, body=f"'Kör lugnt. {tags}'")))
    assert "error: channel instagram: the Instagram caption has 31 hashtags, over Instagram's 30; remove some" \
        in many.output


def test_validate_says_what_is_missing_without_media_base_url(make_root: Callable[..., Path]) -> None:
    result = invoke("validate", "--root", str(plan(make_root, base=None)))
    assert result.exit_code == 1
    assert ("config.yaml:29:5: error: channel instagram: media_base_url: missing: Instagram fetches each image "
            "from a public address; set it to the https:// address where the website publishes the plan's images "
            "(the rss channel's media_output copies them there)") in result.output


def test_doctor_checks_the_token_and_the_quota(make_root: Callable[..., Path], graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.objects[ACCOUNT] = {"id": ACCOUNT, "username": "tryggihultsfred"}
    graph_server.add_token(TOKEN, profile_id="55555", type="USER",
                           scopes=("instagram_basic", "instagram_content_publish", "pages_read_engagement"))
    graph_server.quota = 95
    root = plan(make_root, url=graph_server.url)
    result = invoke("doctor", "--root", str(root), env=ENV)
    lines = [line for line in result.output.splitlines() if "  instagram: " in line]
    assert lines == [
        f"ok    instagram: token: the token reaches Instagram account @tryggihultsfred ({ACCOUNT})",
        "ok    instagram: permissions: may publish (instagram_content_publish, instagram_basic)",
        "ok    instagram: expiry: the token does not expire",
        "WARN  instagram: quota: 95 of 100 posts in the last 24 hours -> Instagram refuses more until the 24 hours "
        "have passed",
    ]
    # Only debug_token carries the token in its URL (Meta wants it there); nothing else does.
    assert [r.edge or r.node for r in graph_server.requests if "access_token" in r.query or "input_token" in r.query] \
        == ["debug_token"]


def test_doctor_fails_a_token_that_may_not_publish(make_root: Callable[..., Path], graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.objects[ACCOUNT] = {"id": ACCOUNT, "username": "tryggihultsfred"}
    graph_server.add_token(TOKEN, profile_id="55555", type="USER", scopes=("instagram_basic",))
    result = invoke("doctor", "--root", str(plan(make_root, url=graph_server.url)), env=ENV)
    assert result.exit_code == 1
    assert ("FAIL  instagram: permissions: the access token for instagram lacks instagram_content_publish: it may "
            "not publish -> create an access token with the instagram_basic, instagram_content_publish and "
            "pages_read_engagement permissions and set IG_TOKEN") in result.output.splitlines()


def test_a_published_message_goes_through_the_cli_and_the_ledger(
    make_root: Callable[..., Path], graph_server: GraphServer  # noqa: F811
) -> None:
    root = plan(make_root, url=graph_server.url)
    result = invoke("publish", "moped/start/instagram", "--root", str(root), "--now", "2018-08-13T07:30", env=ENV)
    assert result.exit_code == 0, result.output
    [media] = graph_server.media[ACCOUNT]
    assert f"published moped/start/instagram {media['permalink']}" in result.output
    [create] = [r for r in graph_server.requests if r.edge == "media"]
    assert create.form["image_url"] == MOPED


def test_the_24_hour_quota_reached_is_transient(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    reply = graph_error(9, "Application request limit reached", subcode=2207042, status=400)
    reply.edge = "media_publish"
    graph_server.script(reply)
    pub = publisher(tmp_path, graph_server.url)
    with pytest.raises(TransientError) as info:
        pub.publish(pub.payload(rendered(tmp_path)), DELIVERY, MemoryJournal())
    assert type(info.value) is TransientError
    assert "as many posts as Instagram allows in 24 hours" in str(info.value)


def test_validate_refuses_a_picture_that_is_not_a_jpeg(make_root: Callable[..., Path]) -> None:
    root = plan(make_root)
    (root / "content" / "images" / "moped.jpg").write_bytes(PNG)  # named .jpg, a PNG by its content
    result = invoke("validate", "--root", str(root))
    assert result.exit_code == 1
    assert ("error: channel instagram: Instagram takes only JPEG pictures, and content/images/moped.jpg is "
            "image/png: save it as a .jpg and name that one here") in result.output


def test_instagram_fetches_the_picture_where_the_feed_copies_it(sample_root: Path, tmp_path: Path) -> None:
    """One public folder serves both: the rss channel copies each picture into media_output
    under its published name, and Instagram is given that name's address."""
    import json

    out = tmp_path / "rehearsal"
    result = invoke("rehearse", "--root", str(sample_root), "--from", "2018-05-01", "--to", "2018-06-30",
                    "--out", str(out), "--assume-approved")
    assert result.exit_code == 0, result.output
    [post] = [json.loads(p.read_text(encoding="utf-8")) for p in (out / "instagram-polisen").glob("*.json")]
    url = post["params"]["image_url"]
    copied = {p.name for p in (out / "webb" / "media").iterdir()}
    assert url.rpartition("/")[2] in copied, (url, copied)
