"""``samverkan plan --format ics``: the campaigns' public events (parents' meetings, theme
days, information meetings) as an iCalendar file residents and staff can subscribe to.

Choices, each made so that a subscribed calendar stays quiet and correct:

- **Which events.** With ``--year`` the events that start in that year; without it every
  event of the agreement's period, since a subscription URL should not go empty on
  1 January.
- **UID** ``samverkan-<hash>@<domain>``: the hash is of the campaign key and the event's
  key (its ``key:``, else its place in the list), so correcting an event's time, title or
  place keeps its UID and subscribers see the event change, not one removed and another
  added. Give events keys to keep UIDs when reordering them. The domain is the host of
  the first party's website (``www.`` dropped), else ``samverkan.local``.
- **SEQUENCE, LAST-MODIFIED and DTSTAMP** (RFC 5545 3.8.7): the ledger keeps each event's
  fingerprint (what a subscriber sees of it) and the version it was written with; an
  event that changed since the last calendar is written with its SEQUENCE raised and
  LAST-MODIFIED (and DTSTAMP) the clock's time. An event never written before starts at
  SEQUENCE 0, stamped midnight UTC of its campaign's first day: the same plan and ledger
  give the same bytes.
- **METHOD:PUBLISH** (RFC 5546 3.2.1): a calendar published for others to read.
- **Times** carry ``TZID`` of ``config.timezone`` with a VTIMEZONE made by icalendar for
  the years the file spans; ``X-WR-TIMEZONE`` names it for clients that read only that.
  The events are sorted by start, so the file reads in date order.
- **No end time given**: the event gets an end one hour after its start. RFC 5545 would
  make it last zero minutes, which several calendar apps show as a sliver or hide.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol
from urllib.parse import urlsplit

from icalendar import Calendar, Event, Timezone, vDuration

from .loading import LoadedCampaign, LoadedEvent, Project
from .models import Party

PRODID = "-//samverkan//samverkan plan//SV"
DEFAULT_DOMAIN = "samverkan.local"
DEFAULT_DURATION = timedelta(hours=1)
# How often a subscribing client should fetch the file again (RFC 7986 and the older
# X-PUBLISHED-TTL that Outlook reads).
REFRESH = timedelta(days=1)


def uid_domain(project: Project) -> str:
    """The host of the first party with a website, without ``www.``; else samverkan.local."""
    assert project.config is not None
    for party in project.config.agreement.parties.values():
        host = urlsplit(party.website or "").hostname
        if host:
            return host.removeprefix("www.")
    return DEFAULT_DOMAIN


def event_uid(campaign_key: str, event: LoadedEvent, domain: str) -> str:
    """A UID that survives corrections: a hash of the campaign's key and the event's."""
    digest = hashlib.sha256(f"{campaign_key}\x1f{event.key}".encode()).hexdigest()[:20]
    return f"samverkan-{digest}@{domain}"


@dataclass(frozen=True)
class Version:
    """One event as a calendar last showed it: what it showed, and under which SEQUENCE."""

    fingerprint: str
    sequence: int
    modified: datetime | None  # None: unchanged since first written


class Versions(Protocol):
    """Where event versions are kept between calendars (the ledger's meta table)."""

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str, *, only_if_missing: bool = False) -> str: ...


def versioned(store: Versions | None, uid: str, fingerprint: str, now: datetime) -> Version:
    """The version to write ``uid`` with, recorded in ``store`` when it is new or changed."""
    if store is None:
        return Version(fingerprint, 0, None)
    key = f"calendar-event:{uid}"
    raw = store.meta(key)
    if raw is not None:
        old = json.loads(raw)
        if old["fingerprint"] == fingerprint:
            return Version(fingerprint, old["sequence"], datetime.fromisoformat(old["modified"]) if old["modified"] else None)
        version = Version(fingerprint, old["sequence"] + 1, now.astimezone(timezone.utc).replace(microsecond=0))
    else:
        version = Version(fingerprint, 0, None)
    store.set_meta(key, json.dumps({"fingerprint": fingerprint, "sequence": version.sequence,
                                    "modified": version.modified.isoformat() if version.modified else None}))
    return version


def organisers(parties: list[Party]) -> str:
    """``Hultsfreds kommun och Polisen``: the first party's full name, then short names."""
    names = [p.name if i == 0 else p.short_name for i, p in enumerate(parties)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " och " + names[-1]


def _campaign_parties(project: Project, campaign: LoadedCampaign) -> list[Party]:
    assert project.config is not None
    known = project.config.agreement.parties
    keys = campaign.model.parties or list(known)
    return [known[k] for k in keys if k in known]


def _link(campaign: LoadedCampaign) -> str | None:
    """The link of the campaign's first message that has one: where to read more."""
    dated = sorted((m.times[0][0], m.index, m.model.link) for m in campaign.messages if m.model.link and m.times)
    return dated[0][2] if dated else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _description(project: Project, campaign: LoadedCampaign, event: LoadedEvent, link: str | None) -> str:
    parts = []
    if event.description:
        parts.append(event.description.strip())
    parts.append(f"{campaign.model.title}: {_one_line(campaign.model.summary)}")
    parts.append(f"Arrangeras av {organisers(_campaign_parties(project, campaign))}.")
    if link:
        parts.append(f"Läs mer: {link}")
    return "\n\n".join(parts)


def selected_events(project: Project, year: int | None) -> list[tuple[LoadedCampaign, LoadedEvent]]:
    """The events of the valid campaigns (routines have none), by start, campaign, index;
    only those starting in ``year`` if given."""
    out = [
        (c, e)
        for c in project.campaigns.values()
        for e in c.events
        if year is None or e.start.year == year
    ]
    out.sort(key=lambda ce: (ce[1].start, ce[0].key, ce[1].index))
    return out


def calendar_name(project: Project, year: int | None) -> str:
    assert project.config is not None
    who = organisers(list(project.config.agreement.parties.values()))
    return f"{who} – träffar om trygghet" + (f" {year}" if year is not None else "")


def build_calendar(project: Project, year: int | None = None, *, versions: Versions | None = None,
                   now: datetime | None = None) -> Calendar:
    """The iCalendar object of the plan's public events (see the module's notes); with
    ``versions``, changed events are recorded there and written with a raised SEQUENCE."""
    assert project.config is not None
    tz = project.tz
    ag = project.config.agreement
    domain = uid_domain(project)
    name = calendar_name(project, year)
    about = (
        f"Informationsträffar, föräldraträffar och temadagar som {organisers(list(ag.parties.values()))} "
        f"ordnar tillsammans inom {ag.title}."
    )

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    cal.add("description", about)
    cal.add("x-wr-caldesc", about)
    cal.add("x-wr-timezone", tz.key)
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))

    events = selected_events(project, year)
    # The VTIMEZONE of DTSTART/DTEND, first in the file, with the rules of the years the
    # file spans (the default, 1970–2038, would add some 140 transitions to every
    # download). Added even with no events, so an empty year is still a valid calendar.
    first = min([ag.period.start] + [ev.start.date() for _, ev in events])
    last = max([ag.period.end] + [_end(ev).date() for _, ev in events])
    cal.add_component(Timezone.from_tzid(tz.key, first_date=date(first.year, 1, 1), last_date=date(last.year + 1, 1, 1)))

    for campaign, ev in events:
        uid = event_uid(campaign.key, ev, domain)
        item = Event()
        item.add("uid", uid)
        item.add("dtstart", ev.start)
        item.add("dtend", _end(ev))
        item.add("summary", ev.title)
        link = _link(campaign)
        item.add("description", _description(project, campaign, ev, link))
        if ev.location:
            item.add("location", ev.location)
        item.add("categories", [ag.priority_areas.get(a, a) for a in campaign.model.priority_areas])
        if link:
            item.add("url", link)
        item.add("class", "PUBLIC")
        fingerprint = hashlib.sha256(item.to_ical()).hexdigest()
        version = versioned(versions, uid, fingerprint, now or datetime.now(timezone.utc))
        stamp = version.modified or datetime.combine(campaign.model.period.start, time(0), tzinfo=timezone.utc)
        item.add("dtstamp", stamp)
        item.add("last-modified", stamp)
        item.add("sequence", version.sequence)
        cal.add_component(item)
    return cal


def _end(ev: LoadedEvent) -> datetime:
    return ev.end or ev.start + DEFAULT_DURATION


def ics_text(project: Project, year: int | None = None, *, versions: Versions | None = None,
             now: datetime | None = None) -> str:
    """The calendar as text with CRLF line ends, the same bytes for the same plan and ledger."""
    data: bytes = build_calendar(project, year, versions=versions, now=now).to_ical()
    return data.decode("utf-8")
