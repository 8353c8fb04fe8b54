"""The website's news feed: RSS 2.0 (and Atom) written with feedgen.

The simplest publisher, and the one to copy. Its payload is one feed item; publishing
rewrites the whole feed from that item and the channel's earlier items in the ledger, so
a restart or a new machine rebuilds the same file, byte for byte.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urljoin, urlsplit

from pydantic import Field, field_validator

from .base import (
    Channel, CheckResult, Journal, Payload, PermanentError, Receipt, Settings, TransientError, plan_file, public_image_name, uncarriable, web_link,
    write_atomic,
)

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
    media_base_url: str | None = None
    """Public URL of the folder where the website serves the plan's images: with it, a
    message's image goes into its feed item (an enclosure, and the picture in its HTML)."""
    media_output: str | None = None
    """Folder (relative to the root) the publisher copies each published image into, for
    the website to serve at media_base_url; leave it out if the site gets them otherwise."""

    @field_validator("link", "self_url", "atom_self_url", "media_base_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        # Every reader of the feed follows these: only an http(s) address with a host.
        if value is not None and not web_link(value):
            raise ValueError(f"'{value}' is not a web address; write it as https://...")
        return value


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
            # only a web address: a javascript: link would run in the reader's browser
            "link": message.link if message.link and web_link(message.link) else self.settings.link,
            "description": message.parts["html"],
            "pubDate": message.at.isoformat(),
        }
        for name in ("title", "description"):
            # XML 1.0 cannot hold it, and lxml would refuse the whole feed: this delivery
            # fails, and says why, where validation was skipped.
            problem = uncarriable(item[name])
            if problem:
                raise PermanentError(f"{self.channel.name}: the item's {name} cannot go into the feed: {problem}; "
                                     "run samverkan validate")
        files: dict[str, bytes] = {}
        image = message.image
        if image is not None:
            # (PlanFileError, a PermanentError, for what is not a picture inside the plan)
            picture = plan_file(self.channel.root, image.path, image=True)
            data = picture.data or b""
            name = public_image_name(image.path.name, data)
            # the message's own image_url var wins: the picture is already on the site
            url = message.extra.get("image_url") or (
                urljoin(_folder_url(self.settings.media_base_url), name) if self.settings.media_base_url else None)
            if url:
                item["enclosure"] = {"url": url, "length": str(len(data)), "type": picture.mime or "application/octet-stream"}
                if not message.extra.get("image_url"):
                    item["image_file"] = name  # the payload's file publish copies into media_output
                    files[name] = data
                # The picture leads the item's HTML, as on the website: readers that show
                # no enclosures (most) show this, with the alt text for screen readers.
                item["description"] = (f'<p><img src="{escape(url)}" alt="{escape(image.alt)}"></p>\n'
                                       + item["description"])
        return Payload(item, {"item.xml": item_xml(self.settings, item), **files})

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        items = [payload.fields, *journal.published(limit=self.settings.max_items)]
        try:
            self.copy_image(payload)
            write_feed(self.channel, items)
        except ValueError as exc:  # lxml: a text XML cannot hold ("All strings must be XML compatible")
            raise PermanentError(f"{self.channel.name}: the feed cannot be written: {exc}; "
                                 "run samverkan validate") from None
        except OSError as exc:
            # A full disk, a folder that is not one or may not be written: mended, writing
            # the whole feed again is harmless, so it is retried.
            where = exc.filename or self.channel.path(self.settings.output)
            raise TransientError(f"cannot write the feed {where}: {exc.strerror or exc}; "
                                 "make sure its folder exists, is a folder and may be written by this user") from None
        return Receipt(external_id=payload.fields["guid"], url=payload.fields["link"])

    def copy_image(self, payload: Payload) -> None:
        """The item's image into media_output under its public name, once: the name holds
        a digest of the bytes, so a file already there is the same picture."""
        name = payload.fields.get("image_file")
        if not (name and self.settings.media_output and name in payload.files):
            return
        target = self.channel.path(self.settings.media_output) / name
        if not target.exists():
            write_atomic(target, payload.files[name], durable=self.channel.durable, public=True)  # the site serves it

    @staticmethod
    def outputs(settings: RssSettings) -> list[tuple[str, str]]:
        """What the channel writes: the feeds and the pictures' folder."""
        named = {"output": settings.output, "atom_output": settings.atom_output, "media_output": settings.media_output}
        return [(k, v) for k, v in named.items() if v]

    def outbox(self) -> bool:
        return False  # a local file either way: no credentials involved

    def check(self) -> list[CheckResult]:
        """The feed's folders can be written, and the public URLs fit together."""
        s = self.settings
        out = [writable(self.channel.path(s.output), "output")]
        if s.atom_output:
            out.append(writable(self.channel.path(s.atom_output), "atom_output"))
        if s.media_output:
            out.append(writable(self.channel.path(s.media_output) / ".probe", "media_output"))
        out += url_checks(s)
        return out

    def rehearsal(self, folder: Path) -> RehearsalFeed:
        """This channel in a rehearsal: the feed goes to ``folder``, written once at the end."""
        update: dict[str, Any] = {"output": str(folder / "feed.xml")}
        if self.settings.media_output:
            update["media_output"] = str(folder / "media")
        if self.settings.atom_output:
            update["atom_output"] = str(folder / "feed.atom")
            update["atom_self_url"] = atom_self_url(self.settings)  # the public one, not the rehearsal's file name
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
        self.copy_image(payload)
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
    for setting in ("link", "self_url", "atom_self_url", "media_base_url"):
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
    write_atomic(channel.path(s.output), build(s, items, s.self_url).rss_str(pretty=True), durable=channel.durable,
                 public=True)
    if s.atom_output:
        write_atomic(channel.path(s.atom_output), atom_xml(s, items, atom_self_url(s)), durable=channel.durable,
                     public=True)


def atom_self_url(s: RssSettings) -> str:
    """The Atom feed's public URL: atom_self_url, else atom_output's file name beside self_url."""
    return s.atom_self_url or urljoin(s.self_url, Path(s.atom_output or "").name)


def atom_xml(settings: RssSettings, items: list[dict[str, Any]], self_url: str) -> bytes:
    """The Atom feed of ``items``, with each image as a ``rel="enclosure"`` link.

    feedgen 1.0.0 writes every Atom entry link without its rel, type and length (it reads
    them back from the element it has just made: lkiesow/python-feedgen#135, #143), so an
    enclosure became a second alternate link and the feed invalid (RFC 4287 4.1.1: at most
    one alternate link per type and hreflang). feedgen writes the entries without their
    enclosures, and they are added here."""
    from lxml import etree

    feed = etree.fromstring(build(settings, items, self_url, atom=True).atom_str())
    for entry, item in zip(feed.iterfind(f"{{{ATOM}}}entry"), items):
        enclosure = item.get("enclosure")
        if enclosure:
            etree.SubElement(entry, f"{{{ATOM}}}link", rel="enclosure", href=enclosure["url"],
                             type=enclosure["type"], length=enclosure["length"])
    xml: bytes = etree.tostring(feed, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return xml


def global_id(site: str, guid: str) -> str:
    """An item's id in both formats: unique beyond this feed, since regional sites merge
    many municipalities' feeds and two of them may well name a campaign alike (RSS 2.0
    leaves a guid's scope open; an Atom id must be a URI unique for all time, RFC 4287
    4.2.6). The delivery id stays the ledger's key; the feed shows it under the ``site``
    (the channel's link)."""
    from uuid import NAMESPACE_URL, uuid5

    return f"urn:uuid:{uuid5(NAMESPACE_URL, site + '#' + guid)}"


ATOM = "http://www.w3.org/2005/Atom"


def _folder_url(url: str) -> str:
    return url if url.endswith("/") else url + "/"


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
    """A FeedGenerator holding ``items`` in the given order; nothing in it depends on the clock.
    Atom entries are made without their enclosures: see :func:`atom_xml`."""
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
        entry.guid(global_id(settings.link, item["guid"]), permalink=False)  # and the Atom id
        entry.title(item["title"])
        entry.link(href=item["link"])
        if atom:
            entry.content(item["description"], type="html")
        else:
            entry.description(item["description"])
        entry.pubDate(_date(item))
        entry.updated(_date(item))
        if item.get("enclosure") and not atom:
            entry.enclosure(**item["enclosure"])
    return fg


def _date(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["pubDate"])
