"""The website's news feed: RSS 2.0 (and Atom) written with feedgen.

The simplest publisher, and the one to copy. Its payload is one feed item; publishing
rewrites the whole feed from that item and the channel's earlier items in the ledger, so
a restart or a new machine rebuilds the same file, byte for byte.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from .base import Channel, CheckResult, Journal, Payload, Receipt, Settings, write_atomic

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

    from samverkan.rendering import RenderedMessage


class RssSettings(Settings):
    output: str
    atom_output: str | None = None
    title: str
    link: str
    self_url: str
    description: str
    max_items: int = Field(50, ge=1, le=1000)
    atom_self_url: str | None = None
    """Public URL of the Atom file; default: atom_output's file name beside self_url."""


class RssPublisher:
    name: ClassVar[str] = "rss"
    label: ClassVar[str] = "nyhetsflöde (RSS)"
    idempotent: ClassVar[bool] = True  # publishing rewrites the feed file: doing it again is harmless
    Settings: ClassVar[type[RssSettings]] = RssSettings
    parts: ClassVar[dict[str, str]] = {"html": "rss/item.html.j2"}

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings: RssSettings = channel.settings

    def payload(self, message: RenderedMessage) -> Payload:
        item: dict[str, Any] = {
            "guid": message.delivery_id,
            "title": message.title,
            "link": message.link or self.settings.link,
            "description": message.parts["html"],
            "pubDate": message.at.isoformat(),
        }
        image_url = message.extra.get("image_url")  # the image as published on the site
        if message.image and image_url:
            import mimetypes

            item["enclosure"] = {
                "url": image_url,
                "length": str(message.image.path.stat().st_size),
                "type": mimetypes.guess_type(message.image.path.name)[0] or "image/jpeg",
            }
        return Payload(item, {"item.xml": item_xml(self.settings, item)})

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        items = [payload.fields, *journal.published(limit=self.settings.max_items)]
        write_feed(self.channel, items)
        return Receipt(external_id=payload.fields["guid"], url=payload.fields["link"])

    def outbox(self) -> bool:
        return False  # a local file either way: no credentials involved

    def check(self) -> list[CheckResult]:
        """The feed's folders can be written, and the public URLs fit together."""
        s = self.settings
        out = [writable(self.channel.path(s.output), "output")]
        if s.atom_output:
            out.append(writable(self.channel.path(s.atom_output), "atom_output"))
        out += url_checks(s)
        return out

    def rehearsal(self, folder: Path) -> RehearsalFeed:
        """This channel in a rehearsal: the feed goes to ``folder``, written once at the end."""
        update: dict[str, Any] = {"output": str(folder / "feed.xml")}
        if self.settings.atom_output:
            update["atom_output"] = str(folder / "feed.atom")
        return RehearsalFeed(self.channel.rehearsal(self.settings.model_copy(update=update)))


class RehearsalFeed(RssPublisher):
    """An RSS channel in a rehearsal: collects the items and writes the feed once, in
    :meth:`finish`. The daemon rewrites the feed at every delivery; in a rehearsal only
    the last feed is seen, and writing it once gives the same file without rebuilding it
    thousands of times."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.items: list[dict[str, Any]] = []

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        self.items.append(payload.fields)
        limit = self.settings.max_items
        if len(self.items) > 4 * limit:  # only the newest can reach the feed: keep memory flat
            self.items = newest(self.items, limit)
        return Receipt(external_id=payload.fields["guid"], url=payload.fields["link"])

    def finish(self) -> None:
        if self.items:  # as the daemon: no feed until something is published on it
            write_feed(self.channel, self.items)


def writable(target: Path, setting: str) -> CheckResult:
    """Whether ``target`` (a file) can be written atomically: its folder exists and takes a
    new file, or the nearest existing parent lets the folder be made. Leaves nothing behind."""
    import tempfile

    folder = target.parent
    if folder.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".samverkan-check-"):
                pass  # created and removed: the rename in write_atomic needs exactly this
        except OSError as e:
            return CheckResult.fail(setting, f"cannot write in {folder}: {e.strerror or e}",
                                    f"let the daemon's user write there, or change {setting}")
        return CheckResult.ok(setting, f"{target} can be written")
    parent = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if parent is None or not parent.is_dir():
        return CheckResult.fail(setting, f"{folder} cannot be made: {parent} is a file, not a folder",
                                f"move {parent} away, or change {setting}")
    if not os.access(parent, os.W_OK | os.X_OK):
        return CheckResult.fail(setting, f"{folder} does not exist and cannot be made in {parent}",
                                f"create {folder} for the daemon's user, or change {setting}")
    return CheckResult.ok(setting, f"{folder} will be made at the first publication")


def url_checks(s: RssSettings) -> list[CheckResult]:
    """Warnings where the public URLs do not fit: readers and validators follow them."""
    out = []
    for setting in ("link", "self_url", "atom_self_url"):
        url = getattr(s, setting)
        if url and urlsplit(url).scheme != "https":
            out.append(CheckResult.warn("urls", f"{setting} {url} is not an https URL",
                                        "write it as https://...; readers and browsers warn about plain http"))
    checks = [(s.self_url, s.output, "self_url", "output")]
    if s.atom_output and s.atom_self_url:
        checks.append((s.atom_self_url, s.atom_output, "atom_self_url", "atom_output"))
    for url, path, url_setting, path_setting in checks:
        name = Path(path).name
        if not urlsplit(url).path.endswith("/" + name):
            out.append(CheckResult.warn(
                "urls", f"{url_setting} {url} does not end with {name}, the file {path_setting} writes",
                f"make {url_setting} the public address of {path} (feed readers fetch it from there)"))
    if not out:
        out.append(CheckResult.ok("urls", f"self_url {s.self_url} matches {Path(s.output).name}; https URLs"))
    return out


def write_feed(channel: Channel, items: list[dict[str, Any]]) -> None:
    """(Re)write the channel's feed files from item fields (payload fields), in any order."""
    s: RssSettings = channel.settings
    items = newest(items, s.max_items)
    write_atomic(channel.path(s.output), build(s, items, s.self_url).rss_str(pretty=True), durable=channel.durable)
    if s.atom_output:
        atom_url = s.atom_self_url or urljoin(s.self_url, Path(s.atom_output).name)
        write_atomic(channel.path(s.atom_output), build(s, items, atom_url, atom=True).atom_str(pretty=True),
                     durable=channel.durable)


def newest(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Newest first by pubDate, one per guid (the first given wins), at most ``limit``."""
    by_guid: dict[str, dict[str, Any]] = {}
    for item in items:
        by_guid.setdefault(item["guid"], item)
    ordered = sorted(by_guid.values(), key=lambda i: (_date(i), i["guid"]), reverse=True)
    return ordered[:limit]


def item_xml(settings: RssSettings, item: dict[str, Any]) -> bytes:
    """The ``<item>`` exactly as :func:`build` writes it into the feed."""
    from copy import deepcopy

    from lxml import etree

    feed = etree.fromstring(build(settings, [item], settings.self_url).rss_str())
    element = deepcopy(feed.find("channel/item"))
    etree.cleanup_namespaces(element)  # drop the feed's xmlns declarations it does not use
    xml: bytes = etree.tostring(element, pretty_print=True, encoding="UTF-8")
    return xml


def build(settings: RssSettings, items: list[dict[str, Any]], self_url: str, atom: bool = False) -> FeedGenerator:
    """A FeedGenerator holding ``items`` in the given order; nothing in it depends on the clock."""
    from uuid import NAMESPACE_URL, uuid5

    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(settings.title)
    fg.description(settings.description)
    fg.author(name=settings.title)  # Atom wants an author; RSS ignores it
    fg.language("sv")
    fg.generator("samverkan")  # not feedgen's version: an upgrade must not change the bytes
    # feedgen makes the LAST link the RSS channel <link>: the feed itself first, then the site.
    fg.link(href=self_url, rel="self", type="application/atom+xml" if atom else "application/rss+xml")
    fg.link(href=settings.link, rel="alternate")
    # lastBuildDate defaults to now; the newest item's date keeps the same items the same bytes.
    fg.lastBuildDate(_date(items[0]) if items else datetime(1970, 1, 1, tzinfo=timezone.utc))
    for item in items:
        entry = fg.add_entry(order="append")
        # feedgen keeps one id for both formats; an Atom id must be a URI, an RSS guid need not.
        if atom:
            entry.id(f"urn:uuid:{uuid5(NAMESPACE_URL, settings.link + '#' + item['guid'])}")
        else:
            entry.guid(item["guid"], permalink=False)
        entry.title(item["title"])
        entry.link(href=item["link"])
        if atom:
            entry.content(item["description"], type="html")
        else:
            entry.description(item["description"])
        entry.pubDate(_date(item))
        entry.updated(_date(item))
        if item.get("enclosure"):
            entry.enclosure(**item["enclosure"])
    return fg


def _date(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["pubDate"])
