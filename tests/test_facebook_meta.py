"""The facebook publisher done as Meta documents it: looking for an uncertain post where
the page's own posts are listed, the Business Use Case rate limit, logins that need a
person, Swedish error texts, and link posts that do not repeat their link."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest

from publishers.base import Channel, MemoryJournal, OutcomeUnknown, PermanentError, TransientError, UncertainError
from publishers.facebook import FacebookPublisher, FacebookSettings, without_link
from samverkan.ledger import Ledger
from samverkan.rendering import ImageRef, RenderedMessage
from tests.helpers.cli import invoke
from tests.helpers.graph import (  # noqa: F401 (graph_server is a fixture)
    GraphServer,
    ago,
    buc_usage,
    graph_error,
    graph_server,
    late,
    throttled,
)
from tests.helpers.plans import PNG, campaign, message, with_channels

PAGE = "112386409275163"
TOKEN = "EAAGm0PX4ZCpsBAHemligtMetaToken99"
TEXT = "Nu börjar skolan – sänk farten!"
LINK = "https://www.hultsfred.se/skolstart"
DELIVERY = "skola/start/facebook-polisen"


def publisher(root: Path, url: str) -> FacebookPublisher:
    settings = FacebookSettings(publisher="facebook", page_id=PAGE, token="${FB_TOKEN_POLISEN}",
                                graph_url=url, timeout=0.5)
    return FacebookPublisher(Channel("facebook-polisen", settings, root, {"FB_TOKEN_POLISEN": TOKEN}))


def rendered(text: str = TEXT, link: str | None = LINK, image: ImageRef | None = None) -> RenderedMessage:
    return RenderedMessage(delivery_id=DELIVERY, campaign="skola", message="start", channel="facebook-polisen",
                           publisher="facebook", at=datetime(2018, 8, 13, 7, 30, tzinfo=timezone.utc),
                           embargo=None, title="Nu börjar skolan", parts={"text": text + "\n"}, link=link, image=image)


# -- an uncertain attempt is looked for where the page's own posts are listed --------------


def test_a_post_left_out_of_the_ranked_feed_is_found_and_not_posted_twice(
    tmp_path: Path, graph_server: GraphServer  # noqa: F811
) -> None:
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(rendered())
    journal = MemoryJournal()
    graph_server.script(late(30))  # the post is made; the answer comes too late
    with pytest.raises(UncertainError):
        pub.publish(payload, DELIVERY, journal)
    [ours] = graph_server.page_posts(PAGE)
    graph_server.ranked_out.add(ours["id"])  # /feed and /posts rank it out of sight
    for n in range(30):  # and the page is busy: 30 newer posts by people
        graph_server.add_post(PAGE, f"Annat inlägg {n}")

    receipt = pub.publish(payload, DELIVERY, journal)

    assert receipt.external_id == ours["id"]
    assert len(graph_server.writes()) == 1
    looks = [r for r in graph_server.requests if r.method == "GET"]
    assert [r.edge for r in looks] == ["published_posts"]
    since = datetime.fromtimestamp(int(looks[0].query["since"]), timezone.utc)
    assert timedelta(0) < datetime.now(timezone.utc) - since < timedelta(minutes=6)  # the attempt's window


def test_a_photo_post_is_also_looked_for_among_the_uploaded_photos(
    tmp_path: Path, graph_server: GraphServer  # noqa: F811
) -> None:
    (tmp_path / "bild.png").write_bytes(PNG)
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(rendered(image=ImageRef(tmp_path / "bild.png", "Barn vid ett övergångsställe")))
    journal = MemoryJournal()
    graph_server.script(late(30))
    with pytest.raises(UncertainError):
        pub.publish(payload, DELIVERY, journal)
    [photo] = graph_server.photos[PAGE]
    graph_server.posts[PAGE].clear()  # the photo's story is not (yet) among the posts

    receipt = pub.publish(payload, DELIVERY, journal)

    assert receipt.external_id == photo["page_story_id"]
    assert len(graph_server.writes()) == 1
    [posts, photos] = [r for r in graph_server.requests if r.method == "GET"]
    assert (posts.edge, photos.edge, photos.query["type"]) == ("published_posts", "photos", "uploaded")


def test_when_the_look_cannot_tell_the_delivery_is_unknown_never_posted_again(
    tmp_path: Path, graph_server: GraphServer  # noqa: F811
) -> None:
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(rendered())
    journal = MemoryJournal()
    journal.set_part("post", "in_flight")  # an old ledger: when the attempt began is not known

    with pytest.raises(OutcomeUnknown) as info:
        pub.publish(payload, DELIVERY, journal)

    assert graph_server.writes() == []
    assert str(info.value) == (
        f"facebook-polisen: cannot tell whether {DELIVERY} went out (when the earlier attempt began is not "
        f"recorded): look at the page; settle it with `samverkan resolve {DELIVERY} --as published` if the post "
        f"is there, or `--as failed` and then `samverkan publish {DELIVERY} --force` if it is not")


def test_more_posts_in_the_window_than_one_look_reads_is_not_conclusive(
    tmp_path: Path, graph_server: GraphServer  # noqa: F811
) -> None:
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(rendered())
    journal = MemoryJournal()
    journal.set_part("post", "in_flight", ago(minutes=1).isoformat())
    for n in range(101):
        graph_server.add_post(PAGE, f"Inlägg {n}")
    with pytest.raises(OutcomeUnknown, match="more than 100 posts since the attempt"):
        pub.publish(payload, DELIVERY, journal)
    assert graph_server.writes() == []


def test_a_conclusive_miss_posts_again(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    pub = publisher(tmp_path, graph_server.url)
    journal = MemoryJournal()
    journal.set_part("post", "in_flight", ago(minutes=1).isoformat())
    graph_server.add_post(PAGE, TEXT, created=ago(days=7))  # last week's repeat does not count
    pub.publish(pub.payload(rendered()), DELIVERY, journal)
    assert len(graph_server.writes()) == 1


def test_the_daemon_records_an_inconclusive_look_as_unknown(
    make_root: Callable[..., Path], graph_server: GraphServer  # noqa: F811
) -> None:
    channel = (f"  facebook-polisen:\n    publisher: facebook\n    page_id: \"{PAGE}\"\n"
               f"    token: ${{FB_TOKEN_POLISEN}}\n    graph_url: {graph_server.url}\n    timeout: 0.5\n")
    root = make_root(config=with_channels(channel),
                     campaigns={"skola": campaign(message(channels="[facebook-polisen]"))})
    env = {"FB_TOKEN_POLISEN": TOKEN}
    args = ("publish", "skola/start/facebook-polisen", "--root", str(root), "--now", "2018-08-13T07:30")
    graph_server.script(late(30))
    first = invoke(*args, env=env)
    assert "retry" in first.output, first.output
    for n in range(101):  # a busy page: more posts since the attempt than one look reads
        graph_server.add_post(PAGE, f"Inlägg {n}")

    second = invoke(*args, env=env)

    assert "unknown" in second.output and "cannot tell whether" in second.output, second.output
    assert len(graph_server.writes()) == 1
    with Ledger(root / "state" / "samverkan.db") as ledger:
        row = ledger.get("skola/start/facebook-polisen")
        assert row is not None and row.state == "unknown"
    third = invoke(*args, env=env)  # and it stays so until a person settles it
    assert "it is unknown" in third.output and len(graph_server.writes()) == 1
    settled = invoke("resolve", "skola/start/facebook-polisen", "--as", "published", "--root", str(root), env=env)
    assert settled.exit_code == 0, settled.output


# -- the Business Use Case rate limit ----------------------------------------------------


def test_a_buc_throttled_answer_waits_the_time_meta_gave(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    pub = publisher(tmp_path, graph_server.url)
    graph_server.script(throttled(17))
    with pytest.raises(TransientError) as info:
        pub.publish(pub.payload(rendered()), DELIVERY, MemoryJournal())
    assert type(info.value) is TransientError
    assert info.value.retry_after == timedelta(minutes=17)
    assert str(info.value).endswith("code 80001); Meta says access returns in 17 minutes")


def test_the_ledger_plans_the_retry_at_metas_time_not_the_backoff(
    make_root: Callable[..., Path], graph_server: GraphServer  # noqa: F811
) -> None:
    channel = (f"  facebook-polisen:\n    publisher: facebook\n    page_id: \"{PAGE}\"\n"
               f"    token: ${{FB_TOKEN_POLISEN}}\n    graph_url: {graph_server.url}\n    timeout: 2\n")
    root = make_root(config=with_channels(channel),
                     campaigns={"skola": campaign(message(channels="[facebook-polisen]"))})
    graph_server.script(throttled(42))
    result = invoke("publish", "skola/start/facebook-polisen", "--root", str(root), "--now", "2018-08-13T07:30",
                    env={"FB_TOKEN_POLISEN": TOKEN})
    assert "next try 08:12:00" in result.output, result.output  # 07:30 + 42 minutes
    with Ledger(root / "state" / "samverkan.db") as ledger:
        row = ledger.get("skola/start/facebook-polisen")
        assert row is not None and row.next_retry is not None
        assert row.next_retry.astimezone(timezone.utc) == datetime(2018, 8, 13, 6, 12, tzinfo=timezone.utc)


def test_usage_above_75_percent_is_warned(
    tmp_path: Path, graph_server: GraphServer, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO)
    pub = publisher(tmp_path, graph_server.url)
    graph_server.usage = buc_usage(75)
    pub.publish(pub.payload(rendered()), DELIVERY, MemoryJournal())
    assert not [r for r in caplog.records if "rate limit" in r.getMessage()]
    graph_server.usage = buc_usage(81)
    pub.publish(pub.payload(rendered(text="Andra")), "skola/andra/facebook-polisen", MemoryJournal())
    [warning] = [r for r in caplog.records if "rate limit" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert warning.getMessage() == ("facebook-polisen: 81 % of Meta's rate limit for this page is used "
                                    "(X-Business-Use-Case-Usage); at 100 % calls are refused for a while")


# -- errors worded for people --------------------------------------------------------------


@pytest.mark.parametrize("subcode", [459, 464])
def test_a_login_on_facebook_com_is_asked_for_not_a_new_token(
    tmp_path: Path, graph_server: GraphServer, subcode: int  # noqa: F811
) -> None:
    graph_server.script(graph_error(190, "Error validating access token", subcode=subcode))
    pub = publisher(tmp_path, graph_server.url)
    with pytest.raises(PermanentError) as info:
        pub.publish(pub.payload(rendered()), DELIVERY, MemoryJournal())
    said = str(info.value)
    assert said.startswith("Facebook wants the person whose account made the page token for facebook-polisen "
                           "to log in on https://www.facebook.com and do what it asks")
    assert "a new token does not help until then" in said
    assert "create a new one" not in said


def test_swedish_error_texts_are_asked_for_and_shown(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.script(graph_error(999, "Invalid post", user_msg="Inlägget kunde inte publiceras."))
    pub = publisher(tmp_path, graph_server.url)
    with pytest.raises(PermanentError) as info:
        pub.publish(pub.payload(rendered()), DELIVERY, MemoryJournal())
    assert 'Facebook says: "Invalid post" ("Inlägget kunde inte publiceras.")' in str(info.value)
    assert all(r.query.get("locale") == "sv_SE" for r in graph_server.requests)


# -- the link preview shows the link ---------------------------------------------------------


def test_a_link_post_does_not_repeat_its_link(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(rendered(text=f"{TEXT}\n\nLäs mer: {LINK}\n\n/ Kommunen och polisen"))
    assert payload.fields["params"] == {"message": f"{TEXT}\n\n/ Kommunen och polisen", "link": LINK}
    assert without_link(f"Se {LINK} för mer om hur du gör när du cyklar.", LINK).endswith("cyklar.")  # prose stays


def test_the_built_in_template_puts_the_link_only_in_a_photo_caption(make_root: Callable[..., Path]) -> None:
    from samverkan.loading import load_project
    from samverkan.rendering import render_parts

    text = campaign(message(channels="[facebook-polisen]")).replace(
        "    body: Sänk farten vid skolorna.\n", f"    body: Sänk farten vid skolorna.\n    link: {LINK}\n")
    channel = f"  facebook-polisen:\n    publisher: facebook\n    page_id: \"{PAGE}\"\n"
    root = make_root(config=with_channels(channel), campaigns={"skola": text})
    project = load_project(root)
    camp = project.campaigns["skola"]
    msg = camp.messages[0]
    parts, _ = render_parts(project, camp, msg, "facebook-polisen", msg.times[0][0])
    assert LINK not in parts["text"]


def test_doctor_warns_when_the_rate_limit_is_nearly_used(
    make_root: Callable[..., Path], graph_server: GraphServer  # noqa: F811
) -> None:
    graph_server.add_token(TOKEN, profile_id=PAGE)
    graph_server.usage = buc_usage(90)
    channel = (f"  facebook-polisen:\n    publisher: facebook\n    page_id: \"{PAGE}\"\n"
               f"    token: ${{FB_TOKEN_POLISEN}}\n    graph_url: {graph_server.url}\n    timeout: 2\n")
    result = invoke("doctor", "--root", str(make_root(config=with_channels(channel))), env={"FB_TOKEN_POLISEN": TOKEN})
    assert ("WARN  facebook-polisen: rate limit: 90 % of Meta's rate limit for this page is used "
            "(X-Business-Use-Case-Usage) -> publish less often from other tools on this account, or wait") \
        in result.output.splitlines()
