"""Posts on a Facebook Page through facebook-sdk's GraphAPI."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from .base import Channel, EnvRef, Payload, Receipt, Settings


class FacebookSettings(Settings):
    page_id: str
    token: EnvRef | None = None
    api_version: str = Field("v21.0", pattern=r"^v\d+\.\d+$")
    graph_url: str = "https://graph.facebook.com/"
    outbox: str | None = None
    timeout: float = Field(20.0, gt=0)


class FacebookPublisher:
    name: ClassVar[str] = "facebook"
    Settings: ClassVar[type[FacebookSettings]] = FacebookSettings
    parts: ClassVar[dict[str, str]] = {"text": "facebook/post.txt.j2"}

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings: FacebookSettings = channel.settings

    def payload(self, message: Any) -> Payload:
        raise NotImplementedError

    def publish(self, payload: Payload, delivery_id: str) -> Receipt:
        raise NotImplementedError
