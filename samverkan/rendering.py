"""Rendering a delivery's message for its channel: the publisher's parts through Jinja2."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Contact:
    party: str  # the party's name
    name: str
    title: str | None
    phone: str | None
    email: str


@dataclass(frozen=True)
class Logo:
    party: str
    path: Path  # absolute
    alt: str


@dataclass(frozen=True)
class ImageRef:
    path: Path  # absolute
    alt: str


@dataclass(frozen=True)
class RenderedMessage:
    """One message rendered for one channel: what a publisher turns into a payload."""

    delivery_id: str
    campaign: str
    message: str
    channel: str
    publisher: str
    at: datetime
    embargo: datetime | None
    title: str
    parts: dict[str, str]  # part name (publisher.parts) -> rendered text
    link: str | None = None
    image: ImageRef | None = None
    logos: tuple[Logo, ...] = ()
    contacts: tuple[Contact, ...] = ()
    parties: tuple[str, ...] = ()  # the parties' names, in config order
    extra: dict[str, Any] = field(default_factory=dict)

    def content_hash(self) -> str:
        """SHA-256 over everything that is published (approvals and re-publish checks)."""
        import hashlib
        import json

        blob = json.dumps(
            {
                "title": self.title,
                "parts": self.parts,
                "link": self.link,
                "image": [str(self.image.path), self.image.alt] if self.image else None,
                "embargo": self.embargo.isoformat() if self.embargo else None,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()
