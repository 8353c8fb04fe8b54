"""The facebook publisher against a fake Graph API on 127.0.0.1 (tests/helpers/graph.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from publishers.base import (
    Channel,
    MemoryJournal,
    PermanentError,
    TransientError,
    UncertainError,
)
from publishers.facebook import ChannelBlocked, FacebookPublisher, FacebookSettings
from samverkan.rendering import ImageRef, RenderedMessage
from tests.helpers.graph import (  # noqa: F401 (graph_server is a fixture)
    GraphServer,
    ago,
    closed_port_url,
    drop,
    graph_error,
    graph_server,
    html_page,
    late,
)

PAGE = "112386409275163"
TOKEN = "EAAGm0PX4ZCpsBAHemligtTokenAbc123"
ENV = {"FB_TOKEN_POLISEN": TOKEN}
TEXT = "Nu börjar skolan – sänk farten!\n\nVi finns vid skolorna hela veckan."
LINK = "https://www.hultsfred.se/skolstart"
DELIVERY = "2018-saker-skolstart/start/facebook-polisen"


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with all loggers at DEBUG (urllib3 logs URLs there): no token in any."""
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter("%(name)s %(message)s")
    for when in ("setup", "call"):
        for record in caplog.get_records(when):
            assert TOKEN not in formatter.format(record)


def publisher(
    root: Path, url: str, env: dict[str, str] | None = None, **settings: Any
) -> FacebookPublisher:
    values: dict[str, Any] = {
        "publisher": "facebook",
        "page_id": PAGE,
        "token": "${FB_TOKEN_POLISEN}",
        "graph_url": url,
        "timeout": 0.5,
    }
    values.update(settings)
    channel = Channel(
        name="facebook-polisen",
        settings=FacebookSettings(**values),
        root=root,
        env=ENV if env is None else env,
    )
    return FacebookPublisher(channel)


def message(
    text: str = TEXT, link: str | None = LINK, image: ImageRef | None = None
) -> RenderedMessage:
    return RenderedMessage(
        delivery_id=DELIVERY,
        campaign="2018-saker-skolstart",
        message="start",
        channel="facebook-polisen",
        publisher="facebook",
        at=datetime(2018, 8, 13, 7, 30, tzinfo=timezone.utc),
        embargo=None,
        title="Nu börjar skolan – sänk farten",
        parts={"text": text + "\n"},
        link=link,
        image=image,
    )


def without_token(exc: BaseException) -> BaseException:
    """The error, after checking the token is nowhere in it or in its chain."""
    assert TOKEN not in str(exc)
    assert TOKEN not in "".join(traceback.format_exception(exc))
    return exc


def post_error(pub: FacebookPublisher, journal: MemoryJournal | None = None) -> BaseException:
    with pytest.raises(Exception) as info:
        pub.publish(pub.payload(message()), DELIVERY, journal or MemoryJournal())
    return without_token(info.value)


# -- the request ----------------------------------------------------------------------


def test_link_post_goes_to_the_feed_with_version_fields_and_token_in_the_body(
    tmp_path: Path, graph_server: GraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    graph_server.token = TOKEN  # the server refuses any other token
    pub = publisher(tmp_path, graph_server.url)
    journal = MemoryJournal()

    receipt = pub.publish(pub.payload(message()), DELIVERY, journal)

    [req] = graph_server.requests
    assert (req.method, req.path, req.version) == ("POST", f"/v25.0/{PAGE}/feed", "v25.0")
    assert req.form == {"message": TEXT, "link": LINK, "access_token": TOKEN}
    assert req.token_in == {"body"}
    assert req.query == {"locale": "sv_SE"}  # Meta's error_user_msg comes in Swedish
    [post] = graph_server.page_posts(PAGE)
    assert receipt.external_id == post["id"]
    assert receipt.url == f"https://www.facebook.com/{post['id']}"
    assert journal.part_state("post") == "sent"
    # The log check (autouse fixture) is not vacuous: urllib3 logged the request line.
    assert any(r.name.startswith("urllib3") for r in caplog.records)


def test_api_version_and_base_url_come_from_settings_without_touching_the_sdk(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    import facebook

    other = GraphServer().start()
    try:
        a = publisher(tmp_path, graph_server.url, api_version="v19.0")
        b = publisher(tmp_path, other.url.rstrip("/"))  # the trailing slash is optional
        a.publish(a.payload(message()), DELIVERY, MemoryJournal())
        b.publish(b.payload(message()), DELIVERY, MemoryJournal())
        assert [r.path for r in graph_server.requests] == [f"/v19.0/{PAGE}/feed"]
        assert [r.path for r in other.requests] == [f"/v25.0/{PAGE}/feed"]
    finally:
        other.stop()
    assert facebook.FACEBOOK_GRAPH_URL == "https://graph.facebook.com/"


def test_payload_is_what_is_sent_and_never_holds_the_token(tmp_path: Path) -> None:
    pub = publisher(tmp_path, "http://127.0.0.1:9/")
    payload = pub.payload(message())

    assert payload.fields == {
        "channel": "facebook-polisen",
        "method": "POST",
        "api_version": "v25.0",
        "endpoint": f"/{PAGE}/feed",
        "params": {"message": TEXT, "link": LINK},
    }
    assert json.loads(payload.files["post.json"].decode("utf-8")) == payload.fields
    assert "Nu börjar skolan" in payload.files["post.json"].decode("utf-8")  # not \u escapes
    assert payload.files["post.txt"].decode("utf-8") == f"{TEXT}\n\n{LINK}\n"
    assert TOKEN not in json.dumps(payload.fields) + str(payload.files)


def test_photo_post_carries_the_image_bytes_caption_and_alt_text(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    image = tmp_path / "content" / "images" / "skolstart.png"
    image.parent.mkdir(parents=True)
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"\r\n--not-a-boundary\r\n\n\r"
    image.write_bytes(data)
    pub = publisher(tmp_path, graph_server.url)
    msg = message(image=ImageRef(path=image, alt="Barn vid ett övergångsställe"))

    payload = pub.payload(msg)
    receipt = pub.publish(payload, DELIVERY, MemoryJournal())

    assert payload.fields["endpoint"] == f"/{PAGE}/photos"
    assert payload.fields["source"] == {
        "path": "content/images/skolstart.png",
        "filename": "skolstart.png",
        "content_type": "image/png",
        "file": "photo.png",  # the bytes uploaded, kept with the payload (the archive)
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert payload.files["photo.png"] == data
    [req] = graph_server.requests
    assert req.path == f"/v25.0/{PAGE}/photos"
    assert req.form == {
        "caption": TEXT,
        "published": "true",
        "alt_text_custom": "Barn vid ett övergångsställe",
        "access_token": TOKEN,
    }
    assert req.token_in == {"body"}
    source = req.files["source"]
    assert (source.filename, source.content_type) == ("skolstart.png", "image/png")
    assert source.data == data
    # The receipt names the post (what the page shows), not the photo object.
    [post] = graph_server.page_posts(PAGE)
    assert receipt.external_id == post["id"]
    reader = f"{TEXT}\n\n[bild: Barn vid ett övergångsställe]\n"
    assert payload.files["post.txt"].decode() == reader


def test_missing_image_is_permanent_and_names_the_file(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    pub = publisher(tmp_path, graph_server.url)
    msg = message(image=ImageRef(path=tmp_path / "content/images/borta.png", alt="x"))
    with pytest.raises(PermanentError, match="cannot read the image content/images/borta.png"):
        pub.publish(pub.payload(msg), DELIVERY, MemoryJournal())
    assert graph_server.requests == []


# -- sorting the outcomes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "subcode", "status", "expected"),
    [
        (190, 463, 400, "the page token for facebook-polisen has expired: create a new one "
                        "and set FB_TOKEN_POLISEN"),
        (190, 467, 400, "the page token for facebook-polisen is not valid"),
        (190, 460, 400, "because the password was changed: create a new one and set "
                        "FB_TOKEN_POLISEN"),
        (10, None, 403, "may not post on page 112386409275163"),
        (200, None, 403, "pages_manage_posts"),
        (299, None, 403, "set FB_TOKEN_POLISEN"),
        (100, 33, 400, "check page_id 112386409275163 in config.yaml"),
        (506, None, 400, f"samverkan resolve {DELIVERY} --as published"),
        (1609005, None, 400, f"could not use {LINK}"),
    ],
)
def test_permanent_errors_say_what_to_do(
    tmp_path: Path,
    graph_server: GraphServer,
    code: int,
    subcode: int | None,
    status: int,
    expected: str,
) -> None:
    graph_server.script(graph_error(code, "Graph API text", subcode=subcode, status=status))
    journal = MemoryJournal()

    err = post_error(publisher(tmp_path, graph_server.url), journal)

    assert type(err) is PermanentError
    assert expected in str(err)
    assert "facebook-polisen" in str(err)
    assert (getattr(err, "code"), getattr(err, "http_status")) == (code, status)
    assert journal.part_state("post") == "refused"
    assert len(graph_server.writes()) == 1


def test_expired_token_message_is_exactly_actionable(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    graph_server.script(
        graph_error(190, "Error validating access token: Session has expired", subcode=463)
    )
    err = post_error(publisher(tmp_path, graph_server.url))
    assert str(err) == (
        "the page token for facebook-polisen has expired: create a new one and set "
        "FB_TOKEN_POLISEN"
    )


def test_a_token_echoed_by_facebook_is_scrubbed(tmp_path: Path, graph_server: GraphServer) -> None:
    graph_server.script(graph_error(190, f"Malformed access token {TOKEN}", subcode=467))
    err = post_error(publisher(tmp_path, graph_server.url))
    assert "Malformed access token ***" in str(err)


def test_unknown_code_is_permanent_with_the_api_message(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    graph_server.script(graph_error(12345, "Something new went wrong", subcode=7))
    err = post_error(publisher(tmp_path, graph_server.url))
    assert type(err) is PermanentError
    assert str(err) == (
        'Facebook refused the post to facebook-polisen (Facebook says: "Something new went '
        'wrong", code 12345/7, fbtrace_id AbCdEf12345)'
    )


def test_temporarily_blocked_holds_the_channel(tmp_path: Path, graph_server: GraphServer) -> None:
    graph_server.script(
        graph_error(368, "It looks like you were misusing this feature by going too fast.")
    )
    err = post_error(publisher(tmp_path, graph_server.url))
    assert isinstance(err, ChannelBlocked) and isinstance(err, PermanentError)
    assert err.hold_channel is True
    assert "temporarily blocked facebook-polisen" in str(err)
    assert "held" in str(err)


@pytest.mark.parametrize(
    "reply",
    [
        graph_error(4, "Application request limit reached"),
        graph_error(17, "User request limit reached"),
        graph_error(32, "Page request limit reached", status=403),
        graph_error(341, "Application limit reached"),
        graph_error(613, "Calls to this api have exceeded the rate limit."),
        graph_error(9999, "Please retry your request later.", is_transient=True),
    ],
    ids=["4", "17", "32", "341", "613", "is_transient"],
)
def test_throttling_is_transient(tmp_path: Path, graph_server: GraphServer, reply: Any) -> None:
    graph_server.script(reply)
    journal = MemoryJournal()
    err = post_error(publisher(tmp_path, graph_server.url), journal)
    assert type(err) is TransientError
    assert journal.part_state("post") == "deferred"
    assert graph_server.page_posts(PAGE) == []


@pytest.mark.parametrize(
    "reply",
    [
        graph_error(1, "An unknown error occurred", status=500),
        graph_error(2, "Service temporarily unavailable", status=503, is_transient=True),
        graph_error(9999, "Internal server error", status=500),
        html_page(502),
        drop(creates=True),
    ],
    ids=["code-1", "code-2", "http-500", "html-502", "dropped"],
)
def test_maybe_posted_is_uncertain(tmp_path: Path, graph_server: GraphServer, reply: Any) -> None:
    graph_server.script(reply)
    journal = MemoryJournal()
    err = post_error(publisher(tmp_path, graph_server.url), journal)
    assert type(err) is UncertainError
    assert journal.part_state("post") == "in_flight"  # the next attempt looks first


def test_html_502_says_it_was_not_json(tmp_path: Path, graph_server: GraphServer) -> None:
    graph_server.script(html_page(502))
    err = post_error(publisher(tmp_path, graph_server.url))
    assert "HTTP 502 with something that is not JSON" in str(err)


def test_an_html_4xx_page_is_a_configuration_error(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    graph_server.script(html_page(404))
    err = post_error(publisher(tmp_path, graph_server.url))
    assert type(err) is PermanentError
    assert "check graph_url in config.yaml" in str(err)


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    journal = MemoryJournal()
    err = post_error(publisher(tmp_path, closed_port_url()), journal)
    assert type(err) is TransientError
    assert "nothing was sent" in str(err)
    assert journal.part_state("post") == "deferred"


# -- uncertain, then settled by looking -------------------------------------------------


def test_timeout_after_sending_is_settled_by_lookup_without_a_second_post(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    graph_server.add_post(PAGE, "Något annat", created=ago(minutes=1))
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(message())
    journal = MemoryJournal()
    graph_server.script(late(30))  # the post is made; the answer comes after the 0.5 s timeout

    started = time.monotonic()
    with pytest.raises(UncertainError) as info:
        pub.publish(payload, DELIVERY, journal)
    assert time.monotonic() - started < 5
    without_token(info.value)
    assert "no answer within 0.5s" in str(info.value)

    found = pub.lookup(payload, DELIVERY)
    post = graph_server.page_posts(PAGE)[0]
    assert post["message"] == TEXT
    assert found is not None
    assert (found.external_id, found.url) == (post["id"], post["permalink_url"])

    # The daemon's retry: publish looks first (the journal says in flight) and does not post.
    again = pub.publish(payload, DELIVERY, journal)
    assert again.external_id == post["id"]
    assert len(graph_server.writes()) == 1
    assert journal.part_state("post") == "sent"
    [look, *_] = [r for r in graph_server.requests if r.method == "GET"]
    assert look.path == f"/v25.0/{PAGE}/published_posts"
    assert look.query.keys() == {"fields", "limit", "since", "locale"}
    assert look.query["fields"] == "id,message,created_time,permalink_url"
    assert look.token_in == {"header"}  # a GET has no body; never in the URL


def test_a_new_process_looks_before_posting_again(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    graph_server.add_post(PAGE, TEXT, created=ago(minutes=2))
    pub = publisher(tmp_path, graph_server.url)  # knows nothing of the earlier attempt
    journal = MemoryJournal()
    journal.set_part("post", "in_flight")

    receipt = pub.publish(pub.payload(message()), DELIVERY, journal)

    assert receipt.external_id == graph_server.page_posts(PAGE)[0]["id"]
    assert graph_server.writes() == []


def test_uncertain_and_not_found_posts_again(tmp_path: Path, graph_server: GraphServer) -> None:
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(message())
    journal = MemoryJournal()
    graph_server.script(html_page(502))  # nothing was made after all

    with pytest.raises(UncertainError):
        pub.publish(payload, DELIVERY, journal)
    assert pub.lookup(payload, DELIVERY) is None
    receipt = pub.publish(payload, DELIVERY, journal)

    assert len(graph_server.writes()) == 2
    assert [p["id"] for p in graph_server.page_posts(PAGE)] == [receipt.external_id]


def test_lookup_ignores_an_older_post_with_the_same_text(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    # A weekly repeat with the same words: last week's post must not settle this week's.
    graph_server.add_post(PAGE, TEXT, created=ago(days=7))
    pub = publisher(tmp_path, graph_server.url)
    payload = pub.payload(message())
    graph_server.script(drop(creates=False))

    with pytest.raises(UncertainError):
        pub.publish(payload, DELIVERY, MemoryJournal())

    assert pub.lookup(payload, DELIVERY) is None


def test_a_failed_lookup_is_an_error_not_a_miss(tmp_path: Path) -> None:
    pub = publisher(tmp_path, closed_port_url())
    with pytest.raises(TransientError) as info:
        pub.lookup(pub.payload(message()), DELIVERY)
    without_token(info.value)


@pytest.mark.parametrize(
    "reply",
    [html_page(502, method="GET"), graph_error(2, "Service unavailable", status=503, method="GET")],
    ids=["html-502", "code-2"],
)
def test_a_lookup_that_gets_no_answer_is_transient_not_uncertain(
    tmp_path: Path, graph_server: GraphServer, reply: Any
) -> None:
    # Looking cannot have made a post: look again later, and never post meanwhile.
    graph_server.script(reply)
    pub = publisher(tmp_path, graph_server.url)
    journal = MemoryJournal()
    journal.set_part("post", "in_flight")
    with pytest.raises(TransientError) as info:
        pub.publish(pub.payload(message()), DELIVERY, journal)
    assert type(without_token(info.value)) is TransientError
    assert "looking for the post" in str(info.value)
    assert graph_server.writes() == []


def test_an_expired_token_while_looking_says_what_to_do(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    graph_server.script(graph_error(190, "Session has expired", subcode=463, method="GET"))
    pub = publisher(tmp_path, graph_server.url)
    with pytest.raises(PermanentError, match="has expired: create a new one and set FB_TOKEN"):
        pub.lookup(pub.payload(message()), DELIVERY)


# -- no token: the outbox ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "token", "why"),
    [
        # A token named but unset is an error, not the outbox: tests/test_outbox_rules.py.
        ({}, None, "no token in config.yaml"),
        (ENV, None, "no token in config.yaml"),
    ],
    ids=["no-setting", "no-setting-variable-set"],
)
def test_without_a_token_the_post_goes_to_the_outbox(
    tmp_path: Path, env: dict[str, str], token: str | None, why: str
) -> None:
    pub = publisher(tmp_path, closed_port_url(), env=env, token=token)
    delivery = "2018-grannsamverkan/paminnelse/facebook-polisen@2018-08-20"
    payload = pub.payload(message())

    assert pub.outbox() is True
    receipt = pub.publish(payload, delivery, MemoryJournal())

    name = "2018-grannsamverkan--paminnelse--facebook-polisen_2018-08-20.json"
    written = tmp_path / "outbox" / "facebook-polisen" / name
    assert json.loads(written.read_text(encoding="utf-8")) == payload.fields
    assert receipt.note == (
        f"no token for facebook-polisen ({why}): wrote outbox/facebook-polisen/{name}"
    )
    assert receipt.external_id is None
    assert [p.name for p in written.parent.iterdir()] == [name]  # no temp file left
    assert pub.lookup(payload, delivery) is None


def test_outbox_folder_comes_from_settings(tmp_path: Path) -> None:
    pub = publisher(tmp_path, closed_port_url(), env={}, token=None, outbox="ut/fb")
    receipt = pub.publish(pub.payload(message()), "a/b/c", MemoryJournal())
    assert (tmp_path / "ut" / "fb" / "a--b--c.json").is_file()
    assert receipt.note is not None and receipt.note.endswith("wrote ut/fb/a--b--c.json")


def test_with_a_token_it_is_not_the_outbox(tmp_path: Path) -> None:
    assert publisher(tmp_path, closed_port_url()).outbox() is False


# -- settings ---------------------------------------------------------------------------


def test_settings_defaults_and_checks() -> None:
    s = FacebookSettings(publisher="facebook", page_id="1")
    assert (s.api_version, s.graph_url, s.timeout) == ("v25.0", "https://graph.facebook.com/", 20.0)
    with pytest.raises(ValueError, match="http"):
        FacebookSettings(publisher="facebook", page_id="1", graph_url="graph.facebook.com")
    with pytest.raises(ValueError):
        FacebookSettings(publisher="facebook", page_id="1", api_version="21.0")
    with pytest.raises(ValueError, match="environment variable"):
        FacebookSettings(publisher="facebook", page_id="1", token=TOKEN)


class DetailJournal(MemoryJournal):
    """A journal that keeps part details, as the ledger may."""

    def part_detail(self, part: str) -> str | None:
        return self.parts.get(part, (None, None))[1]


def test_a_new_process_uses_the_journals_attempt_time(
    tmp_path: Path, graph_server: GraphServer
) -> None:
    # Last week's repeat has the same words; the attempt in flight began a minute ago.
    graph_server.add_post(PAGE, TEXT, created=ago(days=7))
    journal = DetailJournal()
    journal.set_part("post", "in_flight", ago(minutes=1).isoformat())
    pub = publisher(tmp_path, graph_server.url)

    receipt = pub.publish(pub.payload(message()), DELIVERY, journal)

    assert len(graph_server.writes()) == 1  # not settled on last week's post
    assert receipt.external_id == graph_server.page_posts(PAGE)[0]["id"]


# -- the fake server itself (other test files build on it) ------------------------------


def test_fake_server_answers_objects_and_added_routes(graph_server: GraphServer) -> None:
    import facebook
    import requests

    graph_server.objects[PAGE] = {"id": PAGE, "name": "Polisen Hultsfred", "fan_count": 10}
    graph_server.route("GET", "/debug_token", lambda req: (200, {"data": {"is_valid": True}}))
    base = graph_server.url + "v25.0/"

    page = requests.get(base + PAGE, params={"fields": "name"}, timeout=2).json()
    debug = requests.get(base + "debug_token", params={"input_token": "x"}, timeout=2).json()
    missing = requests.get(base + "999", timeout=2)

    assert page == {"id": PAGE, "name": "Polisen Hultsfred"}
    assert debug == {"data": {"is_valid": True}}
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 100
    assert [r.version for r in graph_server.requests] == ["v25.0"] * 3
    assert facebook.GraphAPIError(missing.json()).code == 100
