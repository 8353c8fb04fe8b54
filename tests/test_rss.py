"""The RSS publisher: the feed file as feed readers (feedparser) see it."""

from __future__ import annotations

import os
import random
import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from publishers.base import Channel, MemoryJournal, TransientError
from publishers.rss import RssPublisher, RssSettings, global_id, write_feed
from samverkan.rendering import ImageRef, RenderedMessage

TZ = ZoneInfo("Europe/Stockholm")
SITE = "https://www.hultsfred.example/trygghet"
SELF = "https://www.hultsfred.example/trygghet/nyheter.xml"


def channel(root: Path, **settings: Any) -> Channel:
    values = {"publisher": "rss", "output": "public/nyheter.xml", "atom_output": "public/nyheter.atom",
              "title": "Trygg i Hultsfred", "link": SITE, "self_url": SELF,
              "description": "Gemensamma nyheter från kommunen och polisen.", **settings}
    return Channel("webb", RssSettings.model_validate(values), root, env={})


def gid(guid: str) -> str:
    """The id a feed shows for the delivery ``guid`` (the sample channel's site)."""
    return global_id(SITE, guid)


def message(key: str, at: datetime, **changes: Any) -> RenderedMessage:
    values: dict[str, Any] = dict(
        delivery_id=f"kampanj/{key}/webb", campaign="kampanj", message=key, channel="webb", publisher="rss",
        at=at, embargo=None, title=f"Nyhet {key} – sänk farten & se upp <nu>",
        parts={"html": f"<p>Text om <strong>{key}</strong> &amp; trafiken.</p>"},
        link=f"https://www.hultsfred.example/{key}",
    )
    values.update(changes)
    return RenderedMessage(**values)


def publish_all(ch: Channel, messages: list[RenderedMessage]) -> MemoryJournal:
    """Publish one after the other as the daemon would, the ledger kept in a MemoryJournal."""
    pub = RssPublisher(ch)
    published: list[dict[str, Any]] = []
    journal = MemoryJournal()
    for m in messages:
        payload = pub.payload(m)
        journal = MemoryJournal(published)
        pub.publish(payload, m.delivery_id, journal)
        published.insert(0, payload.fields)  # the ledger: newest first
    return MemoryJournal(published)


SUMMER = datetime(2018, 8, 13, 7, 30, tzinfo=TZ)
WINTER = datetime(2018, 12, 3, 9, 0, tzinfo=TZ)


def test_the_feed_parses_cleanly_with_site_link_self_link_language_and_local_dates(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    publish_all(ch, [message("sommar", SUMMER), message("vinter", WINTER)])
    raw = (tmp_path / "public/nyheter.xml").read_bytes()
    feed = feedparser.parse(raw)

    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert feed.feed.link == SITE  # the site, not the feed: feedgen uses the last link added
    assert [(link.rel, link.href) for link in feed.feed.links if link.rel == "self"] == [("self", SELF)]
    assert b'<atom:link href="%s" rel="self" type="application/rss+xml"/>' % SELF.encode() in raw
    assert feed.feed.language == "sv"
    assert [e.id for e in feed.entries] == [gid("kampanj/vinter/webb"), gid("kampanj/sommar/webb")]
    assert [e.guidislink for e in feed.entries] == [False, False]
    assert [e.published for e in feed.entries] == ["Mon, 03 Dec 2018 09:00:00 +0100",
                                                   "Mon, 13 Aug 2018 07:30:00 +0200"]
    assert b"<lastBuildDate>Mon, 03 Dec 2018 09:00:00 +0100</lastBuildDate>" in raw
    assert feed.entries[0].title == "Nyhet vinter – sänk farten & se upp <nu>"
    assert feed.entries[0].description == "<p>Text om <strong>vinter</strong> &amp; trafiken.</p>"
    assert feed.entries[0].link == "https://www.hultsfred.example/vinter"


def test_the_atom_feed_parses_cleanly_with_its_own_self_link(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    publish_all(ch, [message("sommar", SUMMER), message("vinter", WINTER)])
    feed = feedparser.parse((tmp_path / "public/nyheter.atom").read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.link == SITE
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == ["https://www.hultsfred.example/trygghet/nyheter.atom"]
    assert feed.feed.language == "sv"
    assert all(e.id.startswith("urn:uuid:") for e in feed.entries)
    assert feed.entries[0].updated == "2018-12-03T09:00:00+01:00"


def test_guids_and_bytes_are_stable_across_rebuilds(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    ledger = publish_all(ch, [message(f"m{i}", SUMMER + timedelta(days=i)) for i in range(5)])
    first = (tmp_path / "public/nyheter.xml").read_bytes()
    first_atom = (tmp_path / "public/nyheter.atom").read_bytes()

    # Rebuilt later, elsewhere, from the ledger's items in another order: the same file.
    (tmp_path / "public/nyheter.xml").unlink()
    items = ledger.published(limit=50)
    random.Random(4).shuffle(items)
    write_feed(ch, items)
    assert (tmp_path / "public/nyheter.xml").read_bytes() == first
    assert (tmp_path / "public/nyheter.atom").read_bytes() == first_atom
    assert [e.id for e in feedparser.parse(first).entries] == [gid(f"kampanj/m{i}/webb") for i in range(4, -1, -1)]
    assert [e.id for e in feedparser.parse(first_atom).entries] == [gid(f"kampanj/m{i}/webb") for i in range(4, -1, -1)]


def test_only_the_newest_max_items(tmp_path: Path) -> None:
    ch = channel(tmp_path, max_items=3)
    days = list(range(10))
    random.Random(1).shuffle(days)
    older = [RssPublisher(ch).payload(message(f"d{d}", SUMMER + timedelta(days=d))).fields for d in days]
    newest = message("ny", SUMMER + timedelta(days=20))
    pub = RssPublisher(ch)
    pub.publish(pub.payload(newest), newest.delivery_id, MemoryJournal(older))
    feed = feedparser.parse(tmp_path / "public/nyheter.xml")
    assert [e.id for e in feed.entries] == [gid("kampanj/ny/webb"), gid("kampanj/d9/webb"), gid("kampanj/d8/webb")]


def test_republishing_an_item_keeps_it_once(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    pub = RssPublisher(ch)
    payload = pub.payload(message("a", SUMMER))
    pub.publish(payload, "kampanj/a/webb", MemoryJournal([payload.fields]))
    assert len(feedparser.parse(tmp_path / "public/nyheter.xml").entries) == 1


def test_the_payload_is_the_item_as_it_appears_in_the_feed(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    pub = RssPublisher(ch)
    m = message("a", SUMMER, link=None)
    payload = pub.payload(m)
    assert payload == pub.payload(m)  # deterministic
    assert payload.fields == {
        "guid": "kampanj/a/webb",
        "title": m.title,
        "link": SITE,  # no link of its own: the site's
        "description": m.parts["html"],
        "pubDate": "2018-08-13T07:30:00+02:00",
    }
    receipt = pub.publish(payload, m.delivery_id, MemoryJournal())
    assert (receipt.external_id, receipt.url) == ("kampanj/a/webb", SITE)
    assert pub.outbox() is False

    compact = etree.XMLParser(remove_blank_text=True)
    in_feed = etree.parse(str(tmp_path / "public/nyheter.xml"), compact).find("channel/item")
    preview = etree.fromstring(payload.files["item.xml"], compact)
    assert etree.tostring(preview) == etree.tostring(in_feed).replace(
        b' xmlns:atom="http://www.w3.org/2005/Atom"', b"").replace(
        b' xmlns:content="http://purl.org/rss/1.0/modules/content/"', b"")
    assert payload.files["item.xml"].startswith(b"<item>\n  <title>Nyhet a")


def test_an_image_published_on_the_site_becomes_an_enclosure(tmp_path: Path) -> None:
    image = tmp_path / "skolstart.jpg"
    image.write_bytes(b"\xff\xd8\xff" + bytes(997))
    ch = channel(tmp_path)
    m = message("a", SUMMER, image=ImageRef(image, "Barn"),
                extra={"image_url": "https://www.hultsfred.example/bilder/skolstart.jpg"})
    pub = RssPublisher(ch)
    pub.publish(pub.payload(m), m.delivery_id, MemoryJournal())
    feed = feedparser.parse(tmp_path / "public/nyheter.xml")
    assert feed.bozo == 0
    assert [(e.href, e.length, e.type) for e in feed.entries[0].enclosures] == [
        ("https://www.hultsfred.example/bilder/skolstart.jpg", "1000", "image/jpeg")]


def test_files_are_world_readable(tmp_path: Path) -> None:
    publish_all(channel(tmp_path), [message("a", SUMMER)])
    for name in ("nyheter.xml", "nyheter.atom"):
        assert stat.S_IMODE((tmp_path / "public" / name).stat().st_mode) == 0o644


def test_a_crash_mid_write_leaves_the_old_feed_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ch = channel(tmp_path, atom_output=None)
    publish_all(ch, [message("a", SUMMER)])
    feed_file = tmp_path / "public/nyheter.xml"
    before = feed_file.read_bytes()

    written: list[bytes] = []

    def crash(src: str, dst: str) -> None:
        written.append(Path(src).read_bytes())  # the new feed was complete in the temp file...
        raise OSError(28, "No space left on device")  # ...and then the rename never happened

    monkeypatch.setattr(os, "replace", crash)
    pub = RssPublisher(ch)
    with pytest.raises(TransientError, match="cannot write the feed .*nyheter.xml: No space left"):  # tried again later
        pub.publish(pub.payload(message("b", WINTER)), "kampanj/b/webb", MemoryJournal())

    assert written and b"Nyhet b" in written[0]
    assert feed_file.read_bytes() == before
    assert feedparser.parse(before).bozo == 0
    assert sorted(p.name for p in feed_file.parent.iterdir()) == ["nyheter.xml"]  # no temp file


def test_ids_are_unique_beyond_the_feed_and_the_same_in_both_formats(tmp_path: Path) -> None:
    """Regional sites merge many municipalities' feeds: the same campaign key on two
    sites must not make the same guid."""
    ours = channel(tmp_path / "a")
    theirs = channel(tmp_path / "b", link="https://www.vimmerby.example/trygghet")
    publish_all(ours, [message("sommar", SUMMER)])
    publish_all(theirs, [message("sommar", SUMMER)])
    rss_a = feedparser.parse(tmp_path / "a/public/nyheter.xml").entries[0]
    rss_b = feedparser.parse(tmp_path / "b/public/nyheter.xml").entries[0]
    atom_a = feedparser.parse(tmp_path / "a/public/nyheter.atom").entries[0]
    assert rss_a.id != rss_b.id
    assert rss_a.id == atom_a.id
    assert rss_a.id.startswith("urn:uuid:") and rss_a.guidislink is False


PNG = b"\x89PNG\r\n\x1a\n" + bytes(992)


def test_an_image_reaches_the_item_from_the_channels_media_folder(tmp_path: Path) -> None:
    image = tmp_path / "content/images/skolstart.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(PNG)
    ch = channel(tmp_path, media_base_url="https://www.hultsfred.example/trygghet/bilder",
                 media_output="public/bilder")
    pub = RssPublisher(ch)
    m = message("a", SUMMER, image=ImageRef(image, 'Barn vid ett "övergångsställe"'))
    payload = pub.payload(m)
    pub.publish(payload, m.delivery_id, MemoryJournal())

    name = payload.fields["image_file"]
    assert name.startswith("skolstart-") and name.endswith(".png")
    url = f"https://www.hultsfred.example/trygghet/bilder/{name}"
    assert (tmp_path / "public/bilder" / name).read_bytes() == PNG  # the site serves it from there
    for feed_file in ("nyheter.xml", "nyheter.atom"):
        entry = feedparser.parse(tmp_path / "public" / feed_file).entries[0]
        assert [(e.href, e.length, e.type) for e in entry.enclosures] == [(url, "1000", "image/png")]
        html = entry.content[0].value if feed_file.endswith("atom") else entry.description
        assert f'src="{url}"' in html and 'alt="Barn vid ett &quot;övergångsställe&quot;"' in html.split("</p>")[0]
    assert payload.fields["description"].startswith(
        f'<p><img src="{url}" alt="Barn vid ett &quot;övergångsställe&quot;"></p>\n<p>Text om')

    # A corrected picture under the same file name is a new address; the old stays.
    image.write_bytes(PNG[:-1] + b"\x01")
    again = pub.payload(message("b", WINTER, image=ImageRef(image, "Barn")))
    assert again.fields["image_file"] != name


def test_the_atom_feed_keeps_an_enclosure_apart_from_the_entrys_link(tmp_path: Path) -> None:
    """feedgen 1.0.0 drops rel, type and length of Atom entry links: an enclosure became a
    second alternate link, which makes the feed invalid."""
    image = tmp_path / "bild.jpg"
    image.write_bytes(b"\xff\xd8\xff" + bytes(997))
    ch = channel(tmp_path, media_base_url="https://www.hultsfred.example/bilder/")
    publish_all(ch, [message("a", SUMMER, image=ImageRef(image, "Barn")), message("b", WINTER)])
    atom = etree.parse(str(tmp_path / "public/nyheter.atom"))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry_a = atom.xpath("//a:entry[a:title[starts-with(., 'Nyhet a')]]", namespaces=ns)[0]
    links = [(link.get("rel"), link.get("type"), link.get("length")) for link in entry_a.findall("a:link", ns)]
    assert links == [(None, None, None), ("enclosure", "image/jpeg", "1000")]
    assert feedparser.parse(tmp_path / "public/nyheter.atom").bozo == 0
