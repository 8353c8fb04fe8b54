"""The website's news feed: RSS 2.0 (and Atom) written with feedgen."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from .base import Channel, Payload, Receipt, Settings


class RssSettings(Settings):
    output: str
    atom_output: str | None = None
    title: str
    link: str
    self_url: str
    description: str
    max_items: int = Field(50, ge=1, le=1000)


class RssPublisher:
    name: ClassVar[str] = "rss"
    Settings: ClassVar[type[RssSettings]] = RssSettings
    parts: ClassVar[dict[str, str]] = {"html": "rss/item.html.j2"}

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings: RssSettings = channel.settings

    def payload(self, message: Any) -> Payload:
        raise NotImplementedError

    def publish(self, payload: Payload, delivery_id: str) -> Receipt:
        raise NotImplementedError
