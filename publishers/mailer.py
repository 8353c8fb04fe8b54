"""Press releases by e-mail over SMTP."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from .base import Channel, EnvRef, Payload, Receipt, Settings


class MailerSettings(Settings):
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: EnvRef | None = None
    password: EnvRef | None = None
    from_: str = Field(alias="from")
    recipients: str
    outbox: str | None = None
    timeout: float = Field(30.0, gt=0)


class MailerPublisher:
    name: ClassVar[str] = "mailer"
    Settings: ClassVar[type[MailerSettings]] = MailerSettings
    parts: ClassVar[dict[str, str]] = {
        "subject": "press/subject.txt.j2",
        "text": "press/release.txt.j2",
        "html": "press/release.html.j2",
    }

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings: MailerSettings = channel.settings

    def payload(self, message: Any) -> Payload:
        raise NotImplementedError

    def publish(self, payload: Payload, delivery_id: str) -> Receipt:
        raise NotImplementedError
