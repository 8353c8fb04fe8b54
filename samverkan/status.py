"""``samverkan status``: what is coming, what went out, and what needs a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .alerts import OpenAlert, open_alerts
from .i18n import _
from .ledger import Ledger, Row, part_groups
from .loading import Project
from .pauses import active as active_pauses, describe as describe_pause
from .plan import Delivery, deliveries, message_deliveries
from .timeutil import utc

NEEDS_A_PERSON = ("failed", "unknown", "missed", "held")

# Every delivery of the plan is in exactly one of these at any time (delivery_states), and
# status shows how many are in each.
DELIVERY_STATES = {
    "upcoming": "not due yet",
    "due": "due and not sent yet: the daemon publishes it within catch_up, or marks it missed",
    "retrying": "a try failed; the daemon tries again",
    "in_flight": "being sent",
    "published": "published",
    "held": "held until a person or a mended file lets it go",
    "failed": "failed; a person decides",
    "unknown": "may or may not have gone out; a person settles it",
    "missed": "too late to publish; a person decides",
    "before_first_run": "due before the daemon first ran (less catch_up): neither sent nor missed",
}


@dataclass
class Status:
    now: datetime
    upcoming: list[tuple[Delivery, str]]  # with the ledger state or "planned"
    published: list[Row]
    attention: list[Row]
    changed: list[Row] = field(default_factory=list)  # published, text edited since
    broken: list[str] = field(default_factory=list)
    awaiting: list[Any] = field(default_factory=list)  # upcoming messages lacking an approval
    # message id -> its next delivery time not yet past (a repeated message's next occurrence)
    awaiting_next: dict[str, datetime] = field(default_factory=dict)
    checks: list[OpenAlert] = field(default_factory=list)  # channel checks failing now (open alerts)
    # delivery id -> its recipients by group (ledger.PART_GROUPS), for press deliveries that need a person
    recipients: dict[str, dict[str, list[tuple[str, str | None]]]] = field(default_factory=dict)
    pauses: list[Any] = field(default_factory=list)  # pauses in force (samverkan.pauses.Pause)
    states: dict[str, str] = field(default_factory=dict)  # every delivery of the plan -> its state
    overdue: list[Delivery] = field(default_factory=list)  # due longer than catch_up, never tried

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in DELIVERY_STATES}
        for state in self.states.values():
            out[state] += 1
        return {k: n for k, n in out.items() if n}

    def next_at(self, approval: Any) -> datetime:
        return self.awaiting_next.get(approval.message_id, approval.first_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "paused": [p.as_dict() for p in self.pauses],
            "upcoming": [{"id": d.id, "at": d.at.isoformat(), "state": s} for d, s in self.upcoming],
            "published": [r.as_dict() for r in self.published],
            "needs_attention": [self._attention(r) for r in self.attention],
            "failing_channel_checks": [
                {"channel": c.subject, "reason": c.reason, "fix": c.fix, "since": c.at.isoformat(), "alert": c.state}
                for c in self.checks
            ],
            "changed_after_publishing": [r.id for r in self.changed],
            "broken_campaigns": self.broken,
            "awaiting_approval": [{"message": a.message_id, "missing": a.missing, "next_at": self.next_at(a).isoformat(),
                                   "changes_requested": {p: {"by": c["approved_by"], "comment": c["note"]}
                                                         for p, c in getattr(a, "changes", {}).items()}}
                                  for a in self.awaiting],
            "overdue": [{"id": d.id, "at": d.at.isoformat()} for d in self.overdue],
            "counts": self.counts(),
            "deliveries": self.states,
        }

    def _attention(self, r: Row) -> dict[str, Any]:
        d = r.as_dict()
        if r.id in self.recipients:
            d["recipients"] = {group: [{"address": a, "detail": detail} for a, detail in members]
                               for group, members in self.recipients[r.id].items()}
        return d


def press_publisher(name: str) -> bool:
    """Whether the publisher named ``name`` sends to a press list (its parts are recipients)."""
    from publishers.base import get

    try:
        return bool(getattr(get(name), "press", False))
    except Exception:  # not installed, or it does not load: then it has no recipients to show
        return False


def recipients_of(ledger: Ledger, row: Row) -> dict[str, list[tuple[str, str | None]]] | None:
    """The recipients of a press delivery by group (got it, uncertain, never tried, ...);
    None for a delivery of another channel or one with no recipient on record."""
    if not press_publisher(row.publisher):
        return None
    parts = ledger.parts(row.id)
    return part_groups(parts) if parts else None


def status(project: Project, ledger: Ledger, now: datetime, *, upcoming: int = 15, recent: int = 15,
           changed: bool = True) -> Status:
    rows = {r.id: r for r in ledger.rows()}
    coming = []
    for d in deliveries(project, start=now):
        row = rows.get(d.id)
        if row is None or row.state in ("pending", "held"):
            coming.append((d, row.state if row else "planned"))
        if len(coming) >= upcoming:
            break
    published = sorted((r for r in rows.values() if r.state == "published"), key=lambda r: r.published_at or now, reverse=True)
    attention = [r for r in rows.values() if r.state in NEEDS_A_PERSON or (r.state == "pending" and r.last_error)]
    out = Status(now, coming, published[:recent], attention, broken=sorted(project.broken.values()),
                 checks=open_alerts(ledger, "check"), pauses=active_pauses(ledger))
    for r in attention:
        groups = recipients_of(ledger, r)
        if groups is not None:
            out.recipients[r.id] = groups
    plan = deliveries(project)
    out.states = delivery_states(project, ledger, now, plan, rows)
    late = utc(now) - project.catch_up
    out.overdue = [d for d in plan if out.states[d.id] == "due" and d.id not in rows and utc(d.at) < late]
    if changed:
        out.changed = changed_after_publishing(project, [r for r in published])
    if project.config is not None and project.config.approving_parties:
        from .approvals import pending

        awaiting = [a for a in pending(project, ledger, now) if a.missing]
        out.awaiting_next = next_deliveries(project, [a.message_id for a in awaiting], now)
        out.awaiting = sorted(awaiting, key=lambda a: (utc(out.next_at(a)), a.message_id))
    return out


def delivery_states(project: Project, ledger: Ledger, now: datetime, plan: list[Delivery] | None = None,
                    rows: dict[str, Row] | None = None) -> dict[str, str]:
    """Every delivery of the plan -> its one state (a key of DELIVERY_STATES) at ``now``."""
    plan = deliveries(project) if plan is None else plan
    rows = {r.id: r for r in ledger.rows()} if rows is None else rows
    first = ledger.meta("first_run")
    # As the daemon counts: what was due before it first ran, less catch_up, is before its
    # time. A first run recorded later than now (a clock that was ahead) counts from now.
    start = min(utc(datetime.fromisoformat(first)), utc(now)) if first else utc(now)
    horizon = start - project.catch_up
    out: dict[str, str] = {}
    for d in plan:
        row = rows.get(d.id)
        at = utc(d.at)
        if row is None or (row.state in ("missed", "failed") and utc(row.due_at) != at):
            # (a missed or failed one moved in the YAML gets its chance again at its new time)
            state = "upcoming" if at > utc(now) else "before_first_run" if at < horizon else "due"
        elif row.state == "pending":
            state = "retrying" if row.last_error else "upcoming" if at > utc(now) else "due"
        else:
            state = row.state
        out[d.id] = state
    return out


def next_deliveries(project: Project, message_ids: list[str], now: datetime) -> dict[str, datetime]:
    """Message id (``campaign/message``) -> its first delivery not yet past at ``now``: for
    a repeated message the next occurrence, not the first."""
    out: dict[str, datetime] = {}
    for mid in message_ids:
        key, _, msg = mid.partition("/")
        c = project.campaigns.get(key)
        m = c.message(msg) if c else None
        if c is None or m is None:
            continue
        # In UTC: zoned datetimes compare by wall time, and one hour happens twice in autumn.
        coming = [d.at for d in message_deliveries(c, m) if utc(d.at) >= utc(now)]
        if coming:
            out[mid] = min(coming, key=utc)
    return out


def changed_after_publishing(project: Project, rows: list[Row]) -> list[Row]:
    """Published deliveries whose message now renders differently (never re-sent)."""
    from .rendering import RenderError, render

    by_id: dict[str, Delivery] = {}
    for campaign, message in {(r.campaign, r.message) for r in rows}:  # each message once
        c = project.campaigns.get(campaign)
        m = c.message(message) if c else None
        if c and m:
            for d in message_deliveries(c, m):
                by_id[d.id] = d
    out = []
    for r in rows:
        d = by_id.get(r.id)
        if d is None:
            continue
        try:
            if render(project, d).content_hash() != r.content_hash:
                out.append(r)
        except RenderError:
            continue
    return out


def _row_line(r: Row, tz: Any) -> str:
    detail = r.last_error or r.note or ""
    return f"  {r.state:<9} {r.id}  due {r.due_at.astimezone(tz):%Y-%m-%d %H:%M}" + (f"\n            {detail}" if detail else "")


GROUP_WORDS = {"got_it": "got it", "uncertain": "uncertain", "never_tried": "never tried",
               "not_received": "did not get it", "refused": "refused"}
SHOWN = 10  # addresses shown per group; status --format json lists them all


def recipient_lines(r: Row, groups: dict[str, list[tuple[str, str | None]]], indent: str = " " * 12) -> list[str]:
    """Who got a press delivery, who may have, who was never tried; and what a person can
    do about each (``samverkan resolve``)."""
    counts = ", ".join(f"{len(m)} {GROUP_WORDS[g]}" for g, m in groups.items() if m)
    lines = [f"{indent}recipients: {counts}"]
    width = max(len(GROUP_WORDS[g]) for g, m in groups.items() if m) + 2
    for group, members in groups.items():
        if not members:
            continue
        # Reasons only where they tell something: why it is uncertain, deferred, refused.
        shown = [f"{a} ({detail})" if detail and group != "got_it" and group != "never_tried" else a
                 for a, detail in members[:SHOWN]]
        more = f", and {len(members) - SHOWN} more" if len(members) > SHOWN else ""
        lines.append(f"{indent}  {GROUP_WORDS[group] + ':':<{width}}{', '.join(shown)}{more}")
    if groups["uncertain"]:
        lines.append(f"{indent}settle each uncertain one: samverkan resolve {r.id} --recipient ADDRESS --as published|failed")
    if r.state in ("unknown", "failed") and any(groups[g] for g in ("never_tried", "not_received")):
        lines.append(f"{indent}send it to those not sent it yet: samverkan resolve {r.id} --send-untried")
    return lines


def format_text(s: Status, tz: Any) -> str:
    lines = [_("Status at {now}").format(now=f"{s.now.astimezone(tz):%Y-%m-%d %H:%M}"), ""]
    if s.pauses:
        lines.append(_("Paused (nothing is published there until: samverkan resume)"))
        lines += [f"  {describe_pause(p, tz)}" for p in s.pauses]
        lines.append("")
    lines.append(_("Needs a person") if s.attention or s.checks or s.overdue else _("Needs a person: nothing"))
    for d in s.overdue[:20]:
        lines.append(f"  {'overdue':<9} {d.id}  due {d.at.astimezone(tz):%Y-%m-%d %H:%M}")
        lines.append("            " + _("never tried: is the daemon running? (samverkan run); past catch_up it is marked missed"))
    if len(s.overdue) > 20:
        lines.append("  " + _("... and {count} more overdue").format(count=len(s.overdue) - 20))
    for r in s.attention:
        lines.append(_row_line(r, tz))
        if r.id in s.recipients:
            lines += recipient_lines(r, s.recipients[r.id])
        elif r.state == "unknown":
            lines.append("            " + _("settle it: samverkan resolve {id} --as published|failed").format(id=r.id))
    for c in s.checks:
        since = _("failing since {when}").format(when=f"{c.at.astimezone(tz):%Y-%m-%d %H:%M}")
        lines.append(f"  {'check':<9} {c.subject}  {since}")
        lines.append(f"            {c.reason}")
        if c.fix:
            lines.append(f"            {c.fix}")
    if s.changed:
        lines += ["", _("Changed after publishing (not published again)")]
        lines += [f"  {r.id}" for r in s.changed]
    if s.broken:
        lines += ["", _("Campaign files with errors (nothing of them is published)")]
        lines += [f"  {b}" for b in s.broken]
    if s.awaiting:
        lines += ["", _("Awaiting approval (held at their time until approved)")]
        for a in s.awaiting[:20]:
            by = _("by {parties}").format(parties=", ".join(a.missing))
            lines.append(f"  {s.next_at(a).astimezone(tz):%Y-%m-%d %H:%M}  {a.message_id}  {by}")
            for p, c in a.changes.items():  # held by a request for changes
                lines.append("            " + _("changes requested by {party} ({person}): {note}").format(
                    party=p, person=c["approved_by"], note=c["note"]))
        if len(s.awaiting) > 20:
            lines.append("  " + _("... and {count} more (samverkan approvals lists them)").format(count=len(s.awaiting) - 20))
    counts = s.counts()
    if counts:
        lines += ["", _("Deliveries: {counts}").format(counts=", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))]
    lines += ["", _("Upcoming")]
    for d, state in s.upcoming:
        lines.append(f"  {d.at.astimezone(tz):%Y-%m-%d %H:%M}  {state:<8} {d.id}")
    if not s.upcoming:
        lines.append("  " + _("nothing planned"))
    lines += ["", _("Recently published")]
    for r in s.published:
        when = r.published_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if r.published_at else ""
        lines.append(f"  {when}  {r.id}  {r.url or r.note or ''}")
    if not s.published:
        lines.append("  " + _("nothing yet"))
    return "\n".join(lines) + "\n"
