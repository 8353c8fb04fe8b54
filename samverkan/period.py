"""What to say when the clock is outside the agreement's period: nothing is due then, and
a person looking at approvals, status or the previews should be told why and how to look
at the plan (the sample agreement ended in 2019)."""

from __future__ import annotations

from datetime import date, datetime

from .i18n import _
from .loading import Project


def outside_note(project: Project, now: datetime) -> str | None:
    """A sentence saying the clock is outside the agreement's period and how to look at the
    plan anyway (``--now``); None inside it."""
    if project.config is None:
        return None
    period = project.config.agreement.period
    today = now.astimezone(project.tz).date()
    if period.contains(today):
        return None
    example = _example_day(project, period.start, period.end)
    said = (_("the agreement's period ended on {end}: nothing more is due") if today > period.end
            else _("the agreement's period starts on {start}: nothing is due yet"))
    return (said.format(start=period.start, end=period.end) + "; "
            + _("to look at the plan as on a day inside it, give the time, e.g. --now {example}")
            .format(example=f"{example.isoformat()}T08:00"))


def _example_day(project: Project, start: date, end: date) -> date:
    """A day inside the period when something is coming: the first day of the campaign
    in the middle of the period's campaigns, by start, else the period's first day."""
    starts = sorted(c.model.period.start for c in project.campaigns.values()
                    if c.model.kind == "campaign" and start <= c.model.period.start <= end)
    return starts[len(starts) // 2] if starts else start
