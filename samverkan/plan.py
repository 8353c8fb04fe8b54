"""From the loaded plan to deliveries (one message, one channel, one time) and to the
agreement's checks: campaigns per year, priority areas covered, bases cited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Sequence

from .i18n import _
from .loading import LoadedCampaign, LoadedMessage, Project
from .problems import Problems
from .timeutil import parse_duration, utc


@dataclass(frozen=True)
class Delivery:
    """One message to one channel at one time; ``id`` is stable across runs."""

    id: str
    campaign: str
    message: str
    channel: str
    at: datetime

    @property
    def message_id(self) -> str:
        return f"{self.campaign}/{self.message}"


def delivery_id(campaign: str, message: str, channel: str, suffix: str | None) -> str:
    return f"{campaign}/{message}/{channel}{suffix or ''}"


def occurrence_deliveries(
    campaign: LoadedCampaign, message: LoadedMessage, when: datetime, suffix: str | None
) -> list[Delivery]:
    """One occurrence of ``message`` (its time ``when``), one delivery per channel, each at
    the time it is due there: a public channel of an embargoed message at the embargo."""
    return [
        Delivery(delivery_id(campaign.key, message.key, channel, suffix), campaign.key, message.key, channel,
                 message.due(when, channel))
        for channel in message.channels
    ]


def message_deliveries(campaign: LoadedCampaign, message: LoadedMessage) -> Iterator[Delivery]:
    for when, suffix in message.times:
        yield from occurrence_deliveries(campaign, message, when, suffix)


def deliveries(project: Project, start: datetime | None = None, end: datetime | None = None) -> list[Delivery]:
    """Every delivery of the valid campaigns, by time then id; ``[start, end)`` if given.
    By UTC: zoned times compare by the wall clock, and the hour the clocks go back comes
    twice (the loader takes the first of two, so this is the wall clock's order too)."""
    out = [
        d
        for c in project.campaigns.values()
        for m in c.messages
        for d in message_deliveries(c, m)
        if (start is None or d.at >= start) and (end is None or d.at < end)
    ]
    out.sort(key=lambda d: (utc(d.at), d.id))
    return out


def campaign_years(campaign: LoadedCampaign) -> range:
    return range(campaign.model.period.start.year, campaign.model.period.end.year + 1)


@dataclass
class YearSummary:
    year: int
    campaigns: list[str]
    areas: dict[str, list[str]]  # area -> campaigns


def year_summary(project: Project, year: int) -> YearSummary:
    campaigns, areas = _coverage(project, [year])[year]
    return YearSummary(year, campaigns, areas)


def _coverage(project: Project, years: Sequence[int]) -> dict[int, tuple[list[str], dict[str, list[str]]]]:
    """For each of ``years``: its campaigns (not routines), by key, and for each priority
    area (all of the agreement's, those without a campaign too) its campaigns. One pass
    over the plan for all the years."""
    assert project.config is not None
    out: dict[int, tuple[list[str], dict[str, list[str]]]] = {
        y: ([], {a: [] for a in project.config.agreement.priority_areas}) for y in years
    }
    for key in sorted(project.campaigns):
        campaign = project.campaigns[key]
        if campaign.model.kind != "campaign":
            continue
        for year in campaign_years(campaign):
            if year in out:
                campaigns, areas = out[year]
                campaigns.append(key)
                for area in campaign.model.priority_areas:
                    areas.setdefault(area, []).append(key)
    return out


def agreement_years(project: Project) -> range:
    assert project.config is not None
    p = project.config.agreement.period
    return range(p.start.year, p.end.year + 1)


def check_agreement(project: Project, years: Sequence[int] | None = None) -> Problems:
    """Warnings where the plan falls short of the agreement (errors under ``--strict``);
    the yearly ones for ``years`` only, if given (else every year of the agreement).

    Skipped while any file has errors: a broken campaign would count as missing."""
    problems = Problems()
    config = project.config
    if config is None or project.broken:
        return problems
    ag = config.agreement
    file = "config.yaml"
    for year, (campaigns, areas) in _coverage(project, agreement_years(project) if years is None else years).items():
        if len(campaigns) < ag.min_campaigns_per_year:
            problems.warning(
                file, *project.config_where("agreement", "min_campaigns_per_year"),
                _("{year}: {count} campaign(s), the agreement asks for at least {least}").format(
                    year=year, count=len(campaigns), least=ag.min_campaigns_per_year),
            )
        for area, label in ag.priority_areas.items():
            if not areas.get(area):
                problems.warning(
                    file, *project.config_where("agreement", "priority_areas", area, key=True),
                    _("{year}: no campaign on the priority area '{area}' ({label})").format(year=year, area=area, label=label),
                )
    cited = {b for c in project.campaigns.values() for b in c.model.bases}
    for basis, label in ag.bases.items():
        if basis not in cited:
            problems.warning(
                file, *project.config_where("agreement", "bases", basis, key=True),
                _("the basis '{basis}' ({label}) is never cited by a campaign").format(basis=basis, label=label),
            )
    interval = ag.briefing_interval_days
    routine_ok = any(
        c.model.kind == "routine" and m.model.repeat is not None
        and parse_duration(m.model.repeat.every).days <= interval
        for c in project.campaigns.values() for m in c.messages
    )
    if not routine_ok:
        problems.warning(
            file, *project.config_where("agreement", "briefing_interval_days"),
            _("no routine repeats at least every {interval} days; add the situation briefing (lägesbild) as a routine "
              "in campaigns/").format(interval=interval),
        )
    return problems
