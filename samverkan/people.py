"""The people of each party who use the press desk (config.yaml ``people:``), and the checks
of ``people:``, ``desk:`` and ``approval:`` beyond their schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from .models import ApprovalSettings, Config

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
ROLES = ("approver", "operator", "viewer")


@dataclass(frozen=True)
class Member:
    """A person and the party they belong to."""

    party: str
    name: str
    email: str
    role: str

    @property
    def approves(self) -> bool:
        return self.role == "approver"

    @property
    def operates(self) -> bool:
        return self.role == "operator"


def members(config: Config) -> list[Member]:
    return [Member(party, p.name, p.email.strip().lower(), p.role)
            for party, people in config.people.items() for p in people]


def find(config: Config, email: str) -> Member | None:
    """The person with this address (case-insensitive), or None."""
    wanted = email.strip().lower()
    return next((m for m in members(config) if m.email == wanted), None)


def approvers(config: Config, party: str) -> list[Member]:
    return [m for m in members(config) if m.party == party and m.approves]


def operators(config: Config) -> list[Member]:
    return [m for m in members(config) if m.operates]


def check_config(config: Config, err: Callable[..., None]) -> None:
    """Report what the schema cannot see: unknown parties, addresses, the desk's mailer."""
    from . import modelerrors

    parties = config.agreement.parties
    known = ", ".join(parties)

    def party_ok(path: tuple[Any, ...], label: str, name: str) -> None:
        if name not in parties:
            err(path, f"{label}: unknown party '{name}'{modelerrors.suggest(name, parties)} (known: {known})")

    if isinstance(config.approval, ApprovalSettings):
        for i, name in enumerate(config.approval.parties or []):
            party_ok(("approval", "parties", i), "approval: parties", name)
        for i, name in enumerate(config.approval.desk_only):
            party_ok(("approval", "desk_only", i), "approval: desk_only", name)
    else:
        for i, name in enumerate(config.approval or []):
            party_ok(("approval", i), "approval", name)
    seen: dict[str, str] = {}
    for party, people in config.people.items():
        party_ok(("people", party), "people", party)
        for i, person in enumerate(people):
            address = person.email.strip().lower()
            if not _ADDRESS.match(address):
                err(("people", party, i, "email"), f"people: '{person.email}' is not an e-mail address; write it as name@example.se")
            elif address in seen:
                err(("people", party, i, "email"),
                    f"people: {person.email} is listed twice (also under {seen[address]}); a person belongs to one party")
            seen.setdefault(address, party)
    if isinstance(config.approval, ApprovalSettings) and config.approval.desk_only and config.desk is None:
        err(("approval", "desk_only"), "approval: desk_only: the parties named approve on the press desk, but config.yaml "
            "has no desk: section; add desk: {base_url: ..., channel: A-MAILER-CHANNEL} and people:")
    if config.desk is not None:
        url = urlsplit(config.desk.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            err(("desk", "base_url"), f"desk: base_url: '{config.desk.base_url}' is not a web address; "
                "write it as https://desk.example.se")
        channel = config.channels.get(config.desk.channel)
        if channel is None:
            err(("desk", "channel"), f"desk: channel: no channel '{config.desk.channel}'"
                f"{modelerrors.suggest(config.desk.channel, config.channels)}; name a channel with publisher: mailer")
        elif channel.get("publisher") != "mailer":
            err(("desk", "channel"), f"desk: channel: {config.desk.channel} is not a mailer channel; "
                "sign-in links and approval requests go by e-mail")


def send_mail(project: Any, to: list[str], subject: str, text: str, env: Any = None) -> str:
    """Mail ``text`` to ``to`` through the desk's mailer channel (``desk.channel``): over its
    SMTP server, or into its outbox when it names no host. Returns what was done (where the
    outbox file is), never the text."""
    import os

    from publishers.base import Channel, get

    from .problems import SamverkanError

    config = project.config
    if config is None or config.desk is None:
        raise SamverkanError("config.yaml has no desk: section; add desk: {base_url: ..., channel: A-MAILER-CHANNEL}")
    settings = project.channel_settings.get(config.desk.channel)
    if settings is None:
        raise SamverkanError(f"desk: channel: no valid channel '{config.desk.channel}'; run samverkan validate")
    publisher = get(settings.publisher)(Channel(config.desk.channel, settings, project.root, os.environ if env is None else env))
    notify = getattr(publisher, "notify", None)  # the mailer's plain-text notice
    if notify is None:
        raise SamverkanError(f"desk: channel: {config.desk.channel} cannot send e-mail; name a mailer channel")
    return str(notify(to, subject, text))
