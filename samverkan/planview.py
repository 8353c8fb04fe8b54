"""``samverkan plan``: the year as a table or JSON (ICS and the annual wheel elsewhere)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from .i18n import _
from .loading import Project, load_configured
from .plan import agreement_years, campaign_years, check_agreement, deliveries, year_summary
from .problems import SamverkanError


def pick_year(project: Project, year: int | None, now: datetime) -> int:
    years = agreement_years(project)
    if year is not None:
        if year not in years:
            raise SamverkanError(f"{year} is outside the agreement's period ({years.start}–{years.stop - 1})")
        return year
    return min(max(now.year, years.start), years.stop - 1)


def plan_data(project: Project, year: int) -> dict[str, Any]:
    assert project.config is not None
    tz = project.tz
    summary = year_summary(project, year)
    start = datetime(year, 1, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz)
    ag = project.config.agreement
    checks = check_agreement(project, [year])  # pick_year gives a year of the agreement
    in_year = [c for c in project.campaigns.values() if year in campaign_years(c)]
    in_year.sort(key=lambda c: (c.model.period.start, c.key))
    return {
        "year": year,
        "agreement": ag.title,
        "campaigns": [
            {
                "key": c.key,
                "kind": c.model.kind,
                "title": c.model.title,
                "start": c.model.period.start.isoformat(),
                "end": c.model.period.end.isoformat(),
                "priority_areas": list(c.model.priority_areas),
                "bases": list(c.model.bases),
                "events": [
                    {"title": e.title, "start": e.start.isoformat(), "location": e.location} for e in c.events
                ],
            }
            for c in in_year
        ],
        "deliveries": [
            {"id": d.id, "at": d.at.isoformat(), "channel": d.channel} for d in deliveries(project, start, end)
        ],
        "coverage": {
            area: {"label": ag.priority_areas.get(area, area), "campaigns": keys} for area, keys in summary.areas.items()
        },
        "bases": {
            b: sorted(c.key for c in in_year if b in c.model.bases) for b in ag.bases
        },
        "checks": {
            "campaigns": len(summary.campaigns),
            "min_campaigns": ag.min_campaigns_per_year,
            "areas_covered": sum(1 for v in summary.areas.values() if v),
            "areas": len(ag.priority_areas),
            "findings": [str(p) for p in checks],
        },
        "broken": sorted(project.broken.values()),
    }


def _table(data: dict[str, Any], project: Project) -> str:
    lines = [f"{data['agreement']}", _("Plan {year}").format(year=data["year"]), ""]
    lines.append(_("Campaigns"))
    for c in data["campaigns"]:
        kind = _(" (routine)") if c["kind"] == "routine" else ""
        lines.append(f"  {c['start']} – {c['end']}  {c['key']}{kind}")
        lines.append(f"      {c['title']}  [{', '.join(c['priority_areas'])}]")
        for e in c["events"]:
            event = _("event")
            lines.append(f"      {event} {e['start'][:16].replace('T', ' ')}  {e['title']}"
                         + (f", {e['location']}" if e["location"] else ""))
    lines += ["", _("Deliveries ({count})").format(count=len(data["deliveries"]))]
    day = None
    for d in data["deliveries"]:
        when = datetime.fromisoformat(d["at"])
        if when.date() != day:
            day = when.date()
            lines.append(f"  {day.isoformat()}")
        lines.append(f"    {when:%H:%M}  {d['id']}")
    lines += ["", _("Priority areas")]
    for area, v in data["coverage"].items():
        mark = "ok" if v["campaigns"] else "--"
        count = _("{count} campaign(s)").format(count=len(v["campaigns"]))
        lines.append(f"  {mark}  {area:<18} {count}  {v['label']}")
    lines += ["", _("Bases")]
    for basis, keys in data["bases"].items():
        lines.append(f"  {basis:<28} " + _("cited by {count}").format(count=len(keys)))
    ch = data["checks"]
    verdict = "ok" if ch["campaigns"] >= ch["min_campaigns"] else _("TOO FEW")
    lines += [
        "",
        _("Agreement checks"),
        "  " + _("campaigns: {count} of at least {least}").format(count=ch["campaigns"], least=ch["min_campaigns"])
        + f"  {verdict}",
        "  " + _("priority areas covered: {covered} of {areas}").format(covered=ch["areas_covered"], areas=ch["areas"]),
    ]
    lines += [f"  {f}" for f in ch["findings"]]
    if data["broken"]:
        lines += ["", _("Not in the plan (files with errors; run samverkan validate):")]
        lines += [f"  {b}" for b in data["broken"]]
    return "\n".join(lines) + "\n"


def render(root: Path, *, year: int | None, fmt: str, clock: Callable[[Any], Callable[[], datetime]]) -> str:
    project = load_configured(root)
    now = clock(project.tz)()
    y = pick_year(project, year, now)
    if fmt == "json":
        return json.dumps(plan_data(project, y), ensure_ascii=False, indent=2) + "\n"
    if fmt == "table":
        return _table(plan_data(project, y), project)
    if fmt == "ics":
        from .calendar_ics import ics_text
        from .ledger import Ledger

        assert project.config is not None
        # A calendar to subscribe to holds the whole agreement period unless --year is given;
        # the ledger keeps the events' versions, so a corrected event is an update.
        with Ledger(root / project.config.state) as ledger:
            return ics_text(project, y if year is not None else None, versions=ledger, now=now)
    if fmt == "html":
        from .wheel import wheel_page

        return wheel_page(project, y)
    raise SamverkanError(f"plan --format {fmt} is not available yet")
