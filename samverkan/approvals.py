"""Joint sign-off: each party approves a message's current rendered content.

The hash approved is over every channel's rendering of the message (its first occurrence),
so editing the text, the template or a channel's override voids earlier approvals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from .ledger import Ledger
from .loading import LoadedCampaign, LoadedMessage, Project
from .plan import Delivery, message_deliveries, occurrence_deliveries
from .problems import SamverkanError
from .timeutil import localize, utc


def required_parties(project: Project, campaign: LoadedCampaign) -> list[str]:
    """The parties that must approve: config ``approval`` among the campaign's parties."""
    assert project.config is not None
    parties = campaign.model.parties or list(project.config.agreement.parties)
    return [p for p in project.config.approving_parties if p in parties]


def message_hash(project: Project, campaign: LoadedCampaign, message: LoadedMessage) -> str:
    from .rendering import render

    first_occurrence = occurrence_deliveries(campaign, message, *message.times[0]) if message.times else []
    hashes = sorted(f"{d.channel}:{render(project, d).content_hash()}" for d in first_occurrence)
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


@dataclass
class MessageApproval:
    message_id: str
    content_hash: str
    required: list[str]
    approved: list[str]
    first_at: datetime
    error: str | None = None  # the message cannot be rendered, so there is no text to approve
    # party -> its request for changes of this text (who, when, the comment): it holds the
    # message as a missing approval does, until the text is changed or the party approves
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # party -> its approval of this text (who, when, how), for the approved parties
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [p for p in self.required if p not in self.approved]

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message_id, "content_hash": self.content_hash, "first_at": self.first_at.isoformat(),
                "required": self.required, "approved": self.approved, "missing": self.missing, "error": self.error,
                "changes_requested": {p: {"by": c["approved_by"], "at": c["at"], "comment": c["note"], "way": c["way"]}
                                      for p, c in self.changes.items()}}


class TextChanged(SamverkanError):
    """The text was changed after the person looked at it."""


def approval_of(
    project: Project, ledger: Ledger, campaign: LoadedCampaign, message: LoadedMessage, h: str | None = None
) -> MessageApproval:
    """The message's approval state; ``h``: its content hash, if the caller has it."""
    from .rendering import RenderError

    mid = f"{campaign.key}/{message.key}"
    req = required_parties(project, campaign)
    try:
        h = message_hash(project, campaign, message) if h is None else h
    except RenderError as exc:  # one broken template must not hide every other message
        return MessageApproval(mid, "", req, [], _first_at(project, message), error=str(exc.problem()))
    said = ledger.verdicts(mid, h)
    approved = [p for p in req if said.get(p, {}).get("verdict") == "approve"]
    changes = {p: said[p] for p in req if said.get(p, {}).get("verdict") == "changes"}
    return MessageApproval(mid, h, req, approved, _first_at(project, message), changes=changes,
                           approvals={p: said[p] for p in approved})


def _first_at(project: Project, message: LoadedMessage) -> datetime:
    # A message with no times is reported by the loader; its ``at`` still sorts it.
    return message.times[0][0] if message.times else localize(message.model.at, project.tz)[0]


def _upcoming(campaign: LoadedCampaign, message: LoadedMessage, now: datetime) -> bool:
    """Whether any delivery of ``message`` is still due at ``now`` (an embargoed message's
    public channels go out after its press release)."""
    return any(utc(d.at) >= utc(now) for d in message_deliveries(campaign, message))


def checker(project: Project, ledger: Ledger) -> Callable[[Delivery], list[str]] | None:
    """For :class:`~samverkan.publishing.Publishing`: the parties still to approve a delivery's
    message (None when approval is turned off)."""
    if project.config is None or not project.config.approving_parties:
        return None
    cache: dict[tuple[str, str], str] = {}

    def missing(delivery: Delivery) -> list[str]:
        campaign = project.campaigns[delivery.campaign]
        required = required_parties(project, campaign)
        if not required:
            return []
        key = (delivery.campaign, delivery.message)
        if key not in cache:
            message = campaign.message(delivery.message)
            assert message is not None
            cache[key] = message_hash(project, campaign, message)
        assert project.config is not None
        got = ledger.approved_parties(delivery.message_id, cache[key], project.config.approval_settings.desk_only)
        return [p for p in required if p not in got]

    return missing


def approve(project: Project, ledger: Ledger, target: str, party: str, by: str, note: str | None,
            now: datetime, *, os_user: str | None = None) -> list[MessageApproval]:
    """Record ``party``'s approval of one message, or of every message of a campaign, from
    the command line (``os_user``: who ran it)."""
    from .selection import campaign_named

    assert project.config is not None
    if party not in project.config.agreement.parties:
        from .modelerrors import suggest

        known = project.config.agreement.parties
        raise SamverkanError(f"no party '{party}'{suggest(party, known)} (parties: {', '.join(known)})")
    key, _, msg = target.strip("/").partition("/")
    campaign = campaign_named(project, key)
    messages = [campaign.message(msg)] if msg else list(campaign.messages)
    if msg and messages[0] is None:
        raise SamverkanError(f"no message '{msg}' in {campaign.key} (messages: {', '.join(m.key for m in campaign.messages)})")
    if party not in required_parties(project, campaign):
        raise SamverkanError(f"{party} need not approve {campaign.key} (config.yaml approval: {', '.join(project.config.approving_parties) or 'off'})")
    if party in project.config.approval_settings.desk_only:
        raise SamverkanError(f"{party}'s approvals come through the press desk only (config.yaml approval: desk_only); "
                             "sign in on the desk and approve there")
    out = []
    for m in messages:
        assert m is not None
        h = message_hash(project, campaign, m)
        ledger.approve(f"{campaign.key}/{m.key}", party, by, note, h, now, way="cli", os_user=os_user)
        out.append(approval_of(project, ledger, campaign, m, h))
    return out


def sign(project: Project, ledger: Ledger, campaign: LoadedCampaign, message: LoadedMessage, *, party: str,
         name: str, email: str, verdict: str, seen_hash: str, comment: str | None, now: datetime) -> MessageApproval:
    """A signed-in person's word on the text they were shown (``seen_hash``), for their own
    party, through the desk: ``approve``, or ``changes`` with a comment. TextChanged if the
    text is not the one they saw."""
    if party not in required_parties(project, campaign):
        raise SamverkanError(f"{party} need not approve {campaign.key}")
    if verdict == "changes" and not (comment or "").strip():
        raise SamverkanError("say what should change")
    current = message_hash(project, campaign, message)
    if current != seen_hash:
        raise TextChanged("the text has changed: look again")
    ledger.approve(f"{campaign.key}/{message.key}", party, name, (comment or "").strip() or None, current, now,
                   verdict=verdict, person=email, way="desk")
    return approval_of(project, ledger, campaign, message, current)


def pending(project: Project, ledger: Ledger, now: datetime | None = None) -> list[MessageApproval]:
    """Every message (upcoming if ``now`` is given) with its approval state."""
    out = []
    for c in project.campaigns.values():
        for m in c.messages:
            if now is not None and not _upcoming(c, m, now):
                continue
            out.append(approval_of(project, ledger, c, m))
    out.sort(key=lambda a: (a.first_at, a.message_id))
    return out


def awaiting(project: Project, now: datetime) -> list[MessageApproval]:
    """Upcoming messages that still lack an approval, from the ledger if there is one yet
    (read only: looking never creates the state file)."""
    if project.config is None or not project.config.approving_parties or project.problems.errors:
        return []
    state = project.root / project.config.state
    if not state.exists():
        out = []
        for c in project.campaigns.values():
            required = required_parties(project, c)
            for m in c.messages:
                if required and _upcoming(c, m, now):
                    out.append(MessageApproval(f"{c.key}/{m.key}", "", required, [], _first_at(project, m)))
        return sorted(out, key=lambda a: (a.first_at, a.message_id))
    with Ledger(state) as ledger:
        return [a for a in pending(project, ledger, now) if a.missing]


def summary_line(items: list[MessageApproval]) -> str:
    """``3 upcoming message(s) await approval: 3 by polisen, 1 by kommunen``."""
    counts: dict[str, int] = {}
    for a in items:
        for p in a.missing:
            counts[p] = counts.get(p, 0) + 1
    by = ", ".join(f"{n} by {p}" for p, n in sorted(counts.items()))
    return f"{len(items)} upcoming message(s) await approval: {by} (samverkan approvals lists them)"
