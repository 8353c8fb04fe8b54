"""``samverkan plan --format html``: the year as an annual wheel (årshjul) on one
self-contained HTML page, for staff to print and for residents to read.

The wheel is inline SVG: twelve months clockwise from January at the top; each campaign of
the year an arc from its first to its last day (clipped to the year), in bands of the
colours of its priority areas and numbered like the campaign table below it, on rings of its own
where campaigns overlap; each message that goes out a tick on the outer edge; routines (the
14-day lägesbild) a dotted inner ring with a dot per occasion. Beside it the agreement's
checks for the year and a legend; under it the campaigns as a table, the wheel's text
alternative. No scripts, no external files; every text is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from .loading import LoadedCampaign, LoadedEvent, Project
from .plan import Delivery, campaign_years, deliveries, year_summary
from .timeutil import parse_duration

MONTHS = (
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
)
# Okabe & Ito's palette, told apart with every common form of colour blindness; the arcs
# also carry a number and a dark outline, so the wheel still reads printed in grey.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")

# The wheel's geometry, in SVG user units (the viewBox is SIZE x SIZE).
SIZE = 600
C = SIZE / 2
R_TICK_OUT, R_TICK_IN = 294, 280  # delivery ticks
R_MONTH_OUT, R_MONTH_IN = 276, 244  # month band
R_LANES_OUT, R_LANES_IN = 238, 118  # campaign rings
LANE_GAP = 4
MAX_LANE = 36
R_ROUTINE = 100  # first routine ring; more routines go further in
ROUTINE_STEP = 12


def _f(x: float) -> str:
    # Two decimals keep the page small and its bytes the same on every run.
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _e(text: object) -> str:
    return escape(str(text), quote=True)


# --- Swedish dates -----------------------------------------------------------------------


def day_month(d: date, year: int | None = None) -> str:
    """``14 maj``, with the year when it is not ``year``."""
    text = f"{d.day} {MONTHS[d.month - 1]}"
    return text if d.year == year else f"{text} {d.year}"


def period_text(start: date, end: date, year: int) -> str:
    return f"{day_month(start, year)} – {day_month(end, year)}"


def full_period(start: date, end: date) -> str:
    """``14 maj – 19 juni 2018``, or with both years when it spans two."""
    if start.year == end.year:
        return f"{day_month(start, end.year)} – {day_month(end)}"
    return f"{day_month(start)} – {day_month(end)}"


def _clock(t: datetime) -> str:
    return f"{t:%H.%M}"  # Swedish style: 18.30


def event_text(ev: LoadedEvent, year: int) -> str:
    when = f"{day_month(ev.start.date(), year)} kl. {_clock(ev.start)}"
    if ev.end is not None:
        when += f"–{_clock(ev.end)}" if ev.end.date() == ev.start.date() else f" – {day_month(ev.end.date(), year)} kl. {_clock(ev.end)}"
    return f"{ev.title}, {when}" + (f", {ev.location}" if ev.location else "")


def _ordinal(n: int) -> str:
    """``14:e``, ``1:a``, ``22:a`` (Swedish ordinal suffixes)."""
    return f"{n}:a" if n % 10 in (1, 2) and n % 100 not in (11, 12) else f"{n}:e"


# --- what the page shows -----------------------------------------------------------------


@dataclass
class Arc:
    number: int
    campaign: LoadedCampaign
    start: date  # clipped to the year
    end: date  # clipped to the year, inclusive
    lane: int
    colour: str  # of its first priority area: its ticks and its number
    deliveries: int
    colours: tuple[str, ...] = ()  # one per priority area, in the campaign's order


@dataclass
class Tick:
    at: datetime
    campaign: LoadedCampaign
    message: str
    channels: list[str]


@dataclass
class Ring:
    campaign: LoadedCampaign
    times: list[datetime]
    every_days: int | None


def area_colours(project: Project) -> dict[str, str]:
    """A colour per priority area, in config order."""
    assert project.config is not None
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(project.config.agreement.priority_areas)}


def _lanes(spans: list[tuple[date, date]]) -> list[int]:
    """The ring of each span (0 = outermost): the first ring free by the span's start, so
    campaigns that overlap sit on separate rings and the others share the outer one."""
    ends: list[date] = []
    out = []
    for start, end in spans:
        lane = next((i for i, last in enumerate(ends) if last < start), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        out.append(lane)
    return out


def build_arcs(project: Project, year: int, delivered: list[Delivery]) -> list[Arc]:
    colours = area_colours(project)
    first, last = date(year, 1, 1), date(year, 12, 31)
    chosen = [project.campaigns[k] for k in year_summary(project, year).campaigns]
    chosen.sort(key=lambda c: (max(c.model.period.start, first), c.model.period.end, c.key))
    spans = [(max(c.model.period.start, first), min(c.model.period.end, last)) for c in chosen]
    counts = {c.key: sum(1 for d in delivered if d.campaign == c.key) for c in chosen}
    return [
        Arc(n, c, s, e, lane, colours.get(c.model.priority_areas[0], PALETTE[-1]), counts[c.key],
            tuple(colours.get(k, PALETTE[-1]) for k in c.model.priority_areas))
        for n, (c, (s, e), lane) in enumerate(zip(chosen, spans, _lanes(spans), strict=True), start=1)
    ]


def build_ticks(project: Project, delivered: list[Delivery]) -> list[Tick]:
    """One tick per message occasion of a campaign (its channels together)."""
    grouped: dict[tuple[datetime, str, str], list[str]] = {}
    for d in delivered:
        if project.campaigns[d.campaign].model.kind == "campaign":
            grouped.setdefault((d.at, d.campaign, d.message), []).append(d.channel)
    return [Tick(at, project.campaigns[c], m, chs) for (at, c, m), chs in sorted(grouped.items())]


def build_rings(project: Project, year: int, delivered: list[Delivery]) -> list[Ring]:
    out = []
    for c in sorted(project.campaigns.values(), key=lambda c: c.key):
        if c.model.kind != "routine" or year not in campaign_years(c):
            continue
        times = sorted({d.at for d in delivered if d.campaign == c.key})
        repeats = [parse_duration(m.model.repeat.every).days for m in c.messages if m.model.repeat is not None]
        out.append(Ring(c, times, min(repeats) if repeats else None))
    return out


# --- the wheel ---------------------------------------------------------------------------


def _year_fraction(t: datetime | date, year: int) -> float:
    """Where in the year a time (local wall time) or the start of a day falls, 0..1."""
    start = datetime(year, 1, 1)
    length = (datetime(year + 1, 1, 1) - start).total_seconds()
    wall = t.replace(tzinfo=None) if isinstance(t, datetime) else datetime(t.year, t.month, t.day)
    return min(max((wall - start).total_seconds() / length, 0.0), 1.0)


def _point(r: float, frac: float) -> tuple[float, float]:
    # 0 is January 1st at the top; the year runs clockwise (SVG's y axis points down).
    a = 2 * math.pi * frac - math.pi / 2
    return C + r * math.cos(a), C + r * math.sin(a)


def _xy(r: float, frac: float) -> str:
    x, y = _point(r, frac)
    return f"{_f(x)},{_f(y)}"


def sector_path(r_in: float, r_out: float, f0: float, f1: float) -> str:
    """An SVG path of the ring segment between radii and year fractions ``f0 < f1``."""
    # An arc cannot end where it starts: a whole year is drawn a hair short of a circle.
    f1 = min(f1, f0 + 0.9999)
    large = 1 if f1 - f0 > 0.5 else 0
    return (
        f"M{_xy(r_out, f0)} A{_f(r_out)},{_f(r_out)} 0 {large} 1 {_xy(r_out, f1)} "
        f"L{_xy(r_in, f1)} A{_f(r_in)},{_f(r_in)} 0 {large} 0 {_xy(r_in, f0)} Z"
    )


def _spoke(r1: float, r2: float, frac: float, attrs: str) -> str:
    """The opening of a ``<line>`` along the radius at ``frac``; the caller closes it."""
    (x1, y1), (x2, y2) = _point(r1, frac), _point(r2, frac)
    return f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" {attrs}'


def _label_rotation(frac: float) -> float:
    """Degrees that lay a label along the ring, upright on the lower half too."""
    deg = frac * 360
    return deg - 180 if 90 < deg < 270 else deg


def _month_band(year: int) -> list[str]:
    out = ['<g class="months" font-size="13" fill="#1a1a1a">']
    for m in range(12):
        f0 = _year_fraction(date(year, m + 1, 1), year)
        f1 = _year_fraction(date(year + 1, 1, 1) if m == 11 else date(year, m + 2, 1), year)
        fill = "#ececec" if m % 2 == 0 else "#dadada"
        out.append(f'<path d="{sector_path(R_MONTH_IN, R_MONTH_OUT, f0, f1)}" fill="{fill}"/>')
        # A faint spoke at each month's start, through the campaign rings, to read dates by.
        out.append(_spoke(R_LANES_IN - 6, R_MONTH_OUT, f0, 'stroke="#9a9a9a" stroke-width="0.75"') + "/>")
        mid = (f0 + f1) / 2
        x, y = _point((R_MONTH_IN + R_MONTH_OUT) / 2, mid)
        out.append(
            f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="middle" dominant-baseline="central" '
            f'transform="rotate({_f(_label_rotation(mid))} {_f(x)} {_f(y)})">{MONTHS[m]}</text>'
        )
    out.append("</g>")
    return out


def _arcs_svg(arcs: list[Arc], year: int, areas: dict[str, str]) -> list[str]:
    lanes = max((a.lane for a in arcs), default=0) + 1
    width = min(MAX_LANE, (R_LANES_OUT - R_LANES_IN - LANE_GAP * (lanes - 1)) / lanes)
    out = ['<g class="campaigns">']
    for a in arcs:
        r_out = R_LANES_OUT - a.lane * (width + LANE_GAP)
        r_in = r_out - width
        f0 = _year_fraction(a.start, year)
        f1 = _year_fraction(a.end + timedelta(days=1), year)
        m = a.campaign.model
        label = ", ".join(areas.get(k, k) for k in m.priority_areas)
        x, y = _point((r_in + r_out) / 2, (f0 + f1) / 2)
        # A campaign on several priority areas is a band of each area's colour, outside in.
        colours = a.colours or (a.colour,)
        band = (r_out - r_in) / len(colours)
        out += [
            f'<g class="arc" data-campaign="{_e(a.campaign.key)}">',
            f"<title>{a.number}. {_e(m.title)}, {_e(full_period(m.period.start, m.period.end))} ({_e(label)})</title>",
            *(f'<path class="area" d="{sector_path(r_out - (j + 1) * band, r_out - j * band, f0, f1)}" fill="{colour}"/>'
              for j, colour in enumerate(colours)),
            f'<path d="{sector_path(r_in, r_out, f0, f1)}" fill="none" stroke="#1a1a1a" stroke-width="1"/>',
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="9" fill="#ffffff" stroke="#1a1a1a" stroke-width="1"/>',
            f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="middle" dominant-baseline="central" '
            f'font-size="11" font-weight="bold" fill="#1a1a1a">{a.number}</text>',
            "</g>",
        ]
    out.append("</g>")
    return out


def _ticks_svg(ticks: list[Tick], year: int, colour_of: dict[str, str]) -> list[str]:
    out = [
        '<g class="deliveries">',
        f'<circle cx="{_f(C)}" cy="{_f(C)}" r="{R_TICK_IN}" fill="none" stroke="#6b6b6b" stroke-width="0.75"/>',
    ]
    for t in ticks:
        message = t.campaign.message(t.message)
        what = (
            f"{day_month(t.at.date(), year)} kl. {_clock(t.at)}: "
            f"{message.model.title if message else t.message} ({t.campaign.model.title}; "
            f"{_count(len(t.channels), 'kanal', 'kanaler')})"
        )
        colour = colour_of.get(t.campaign.key, "#1a1a1a")
        out.append(
            _spoke(R_TICK_IN, R_TICK_OUT, _year_fraction(t.at, year), f'class="tick" stroke="{colour}" stroke-width="2"')
            + f"><title>{_e(what)}</title></line>"
        )
    out.append("</g>")
    return out


def _rings_svg(rings: list[Ring], year: int) -> list[str]:
    out = ['<g class="routines">']
    for i, ring in enumerate(rings):
        r = R_ROUTINE - i * ROUTINE_STEP
        out += [
            f'<g class="routine" data-routine="{_e(ring.campaign.key)}">',
            f"<title>{_e(_routine_text(ring))}</title>",
            f'<circle cx="{_f(C)}" cy="{_f(C)}" r="{r}" fill="none" stroke="#4d4d4d" stroke-width="1.25" stroke-dasharray="2 4"/>',
        ]
        for t in ring.times:
            x, y = _point(r, _year_fraction(t, year))
            out.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="2.5" fill="#1a1a1a"/>')
        out.append("</g>")
    out.append("</g>")
    return out


def _routine_text(ring: Ring) -> str:
    how = f"var {_ordinal(ring.every_days)} dag, " if ring.every_days else ""
    return f"{ring.campaign.model.title}: {how}{len(ring.times)} tillfällen"


def wheel_svg(project: Project, year: int, arcs: list[Arc], ticks: list[Tick], rings: list[Ring]) -> str:
    """The inline SVG of the wheel, with its title and description for screen readers."""
    assert project.config is not None
    areas = project.config.agreement.priority_areas
    desc = (
        f"Årets tolv månader som ett hjul med januari överst och tiden medurs. "
        f"{len(arcs)} kampanjer som färgade och numrerade bågar, "
        f"{len(ticks)} meddelanden som streck i ytterkanten"
        + (f", {', '.join(_routine_text(r) for r in rings)} som prickad ring i mitten" if rings else "")
        + ". Samma uppgifter finns i tabellen under hjulet."
    )
    out = [
        f'<svg viewBox="0 0 {SIZE} {SIZE}" role="img" aria-labelledby="hjul-titel hjul-beskrivning" '
        'font-family="inherit">',
        f'<title id="hjul-titel">Årshjul {year}</title>',
        f'<desc id="hjul-beskrivning">{_e(desc)}</desc>',
        f'<circle cx="{_f(C)}" cy="{_f(C)}" r="{R_MONTH_IN}" fill="#ffffff"/>',
    ]
    out += _month_band(year)
    out += _rings_svg(rings, year)
    out += _arcs_svg(arcs, year, dict(areas))
    out += _ticks_svg(ticks, year, {a.campaign.key: a.colour for a in arcs})
    out.append(
        f'<text x="{_f(C)}" y="{_f(C)}" text-anchor="middle" dominant-baseline="central" '
        f'font-size="34" font-weight="bold" fill="#1a1a1a">{year}</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


# --- the page ----------------------------------------------------------------------------


def _swatch(colour: str) -> str:
    return (
        '<svg class="swatch" viewBox="0 0 14 14" aria-hidden="true">'
        f'<rect x="0.5" y="0.5" width="13" height="13" fill="{colour}" stroke="#1a1a1a"/></svg>'
    )


def _mark(ok: bool) -> str:
    return '<span class="ok">✓ ok</span>' if ok else '<span class="missing">✗ saknas</span>'


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def checks_html(project: Project, year: int, arcs: list[Arc], rings: list[Ring]) -> str:
    """The agreement's checks for the year, in Swedish; the list of priority areas, with
    their colours, is also the legend of the arcs."""
    assert project.config is not None
    ag = project.config.agreement
    summary = year_summary(project, year)
    n, least = len(summary.campaigns), ag.min_campaigns_per_year
    covered = sum(1 for a in ag.priority_areas if summary.areas.get(a))
    in_year = [c for c in project.campaigns.values() if year in campaign_years(c)]
    cited = {b: sum(1 for c in in_year if b in c.model.bases) for b in ag.bases}
    briefing = [r for r in rings if r.every_days is not None and r.every_days <= ag.briefing_interval_days]
    colours = area_colours(project)
    numbers = {a.campaign.key: a.number for a in arcs}
    out = [
        '<section aria-labelledby="krav">',
        f'<h2 id="krav">Överenskommelsens krav {year}</h2>',
        '<ul class="checks">',
        f"<li>Kampanjer i år: <strong>{n} av minst {least}</strong> {_mark(n >= least)}</li>",
        f"<li>Prioriterade områden: <strong>{covered} av {len(ag.priority_areas)} täckta</strong> "
        f"{_mark(covered == len(ag.priority_areas))}</li>",
        f"<li>Lägesbild minst var {_ordinal(ag.briefing_interval_days)} dag: {_mark(bool(briefing))}"
        + (f' <span class="who">({_e(_routine_text(briefing[0]))})</span>' if briefing else "") + "</li>",
        "</ul>",
        '<h3 id="omraden">Prioriterade områden och bågarnas färger</h3>',
        '<ul class="areas" aria-labelledby="omraden">',
    ]
    for key, label in ag.priority_areas.items():
        keys = summary.areas.get(key, [])
        which = ", ".join(str(n) for n in sorted(numbers[k] for k in keys if k in numbers))
        out.append(
            f"<li>{_swatch(colours[key])} {_e(label)}: {_mark(bool(keys))}"
            + (f' <span class="who">(kampanj {which})</span>' if which else "")
            + "</li>"
        )
    out += [
        "</ul>",
        f'<h3 id="underlag">Underlag som kampanjerna bygger på: {sum(1 for v in cited.values() if v)} av {len(cited)}</h3>',
        '<ul class="bases" aria-labelledby="underlag">',
    ]
    for key, label in ag.bases.items():
        state = _e(_count(cited[key], "gång", "gånger")) if cited[key] else '<span class="missing">inte i år</span>'
        out.append(f"<li>{_e(label)}: {state}</li>")
    out.append("</ul>")
    if project.broken:
        out += [
            '<p class="missing">Inte med i planen, filerna har fel (kör <code>samverkan validate</code>):</p>',
            "<ul>",
            *(f"<li><code>{_e(f)}</code></li>" for f in sorted(project.broken.values())),
            "</ul>",
        ]
    out.append("</section>")
    return "\n".join(out)


def _symbol(shape: str) -> str:
    return f'<svg class="swatch" viewBox="0 0 14 14" aria-hidden="true">{shape}</svg>'


def legend_html() -> str:
    """What the marks of the wheel mean (the colours are listed with the areas)."""
    badge = _symbol(
        '<circle cx="7" cy="7" r="6" fill="#fff" stroke="#1a1a1a"/>'
        '<text x="7" y="7.5" text-anchor="middle" dominant-baseline="central" font-size="8">1</text>'
    )
    tick = _symbol('<line x1="7" y1="1" x2="7" y2="13" stroke="#1a1a1a" stroke-width="2"/>')
    dotted = _symbol('<line x1="1" y1="7" x2="13" y2="7" stroke="#1a1a1a" stroke-width="1.5" stroke-dasharray="2 2"/>')
    return "\n".join([
        '<section aria-labelledby="teckenforklaring">',
        '<h3 id="teckenforklaring">Teckenförklaring</h3>',
        '<ul class="legend">',
        f"<li>{badge} Båge: en kampanj, numrerad som i tabellen</li>",
        f"<li>{tick} Streck i ytterkanten: ett meddelande går ut</li>",
        f"<li>{dotted} Prickad ring: rutin, som lägesbilden</li>",
        "</ul>",
        "</section>",
    ])


def _events_list(events: list[LoadedEvent], year: int) -> str:
    if not events:
        return "–"
    return '<ul class="events">' + "".join(f"<li>{_e(event_text(e, year))}</li>" for e in events) + "</ul>"


def table_html(project: Project, year: int, arcs: list[Arc], rings: list[Ring], delivered: list[Delivery]) -> str:
    """The campaigns as a table and the routines as a list: the wheel's text alternative."""
    assert project.config is not None
    areas = project.config.agreement.priority_areas
    colours = area_colours(project)
    out = [
        '<section aria-labelledby="kampanjer">',
        f'<h2 id="kampanjer">Kampanjer {year}</h2>',
        "<table>",
        "<thead><tr><th scope=\"col\">Nr</th><th scope=\"col\">Kampanj och period</th>"
        "<th scope=\"col\">Prioriterade områden</th><th scope=\"col\">Träffar och temadagar</th>"
        "<th scope=\"col\">Utskick</th></tr></thead>",
        "<tbody>",
    ]
    for a in arcs:
        m = a.campaign.model
        events = [e for e in a.campaign.events if e.start.year == year]
        out.append(
            f'<tr id="kampanj-{_e(a.campaign.key)}"><td>{a.number}</td>'
            f"<td><strong>{_e(m.title)}</strong><br>{_e(period_text(m.period.start, m.period.end, year))}"
            f"<span class=\"summary\"><br>{_e(' '.join(m.summary.split()))}</span></td>"
            f"<td>{'<br>'.join(_swatch(colours.get(k, PALETTE[-1])) + ' ' + _e(areas.get(k, k)) for k in m.priority_areas)}</td>"
            f"<td>{_events_list(events, year)}</td>"
            f"<td>{a.deliveries}</td></tr>"
        )
    if not arcs:
        out.append('<tr><td colspan="5">Inga kampanjer det här året.</td></tr>')
    out += ["</tbody>", "</table>"]
    if rings:
        # One line each: a routine has no events, and a table of its own would not fit
        # the printed sheet.
        out += ['<h3 id="rutiner">Rutiner</h3>', '<ul class="routines" aria-labelledby="rutiner">']
        for r in rings:
            m = r.campaign.model
            count = sum(1 for d in delivered if d.campaign == r.campaign.key)
            how = f", var {_ordinal(r.every_days)} dag" if r.every_days else ""
            out.append(
                f"<li><strong>{_e(m.title)}</strong>, {_e(period_text(m.period.start, m.period.end, year))}: "
                f"{len(r.times)} tillfällen{_e(how)}, {count} utskick</li>"
            )
        out.append("</ul>")
    out.append("</section>")
    return "\n".join(out)


STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1a1a1a; background: #ffffff; line-height: 1.4; margin: 0 auto; max-width: 72rem;
  padding: 1.25rem; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.2rem; margin: 1rem 0 .4rem; }
h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
header p { margin: 0; }
.layout { display: grid; grid-template-columns: minmax(0, 3fr) minmax(15rem, 2fr); gap: 1.5rem; align-items: start; }
figure { margin: 0; }
figure svg { display: block; width: 100%; max-width: 40rem; height: auto; }
ul { padding-left: 0; list-style: none; margin: 0; }
li { margin: .15rem 0; }
.events li + li { margin-top: .35rem; }
.swatch { width: .9em; height: .9em; vertical-align: -0.1em; }
.ok { color: #0b5d1e; font-weight: bold; white-space: nowrap; }
.missing { color: #a30000; font-weight: bold; }
.who { color: #3d3d3d; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3rem .45rem; border-bottom: 1px solid #b3b3b3; }
thead th { border-bottom: 2px solid #1a1a1a; }
footer { margin-top: 1rem; color: #3d3d3d; font-size: .85rem; }
@media (max-width: 48rem) { .layout { grid-template-columns: 1fr; } }
@page { size: A4 portrait; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 7.5pt; line-height: 1.25; }
  /* The summaries would push the table onto a second sheet; the titles say enough. */
  .summary { display: none; }
  h1 { font-size: 14pt; } h2 { font-size: 11pt; margin-top: 3mm; } h3 { font-size: 9pt; margin-top: 2mm; }
  .layout { grid-template-columns: 92mm 1fr; gap: 6mm; }
  figure svg { width: 92mm; max-width: none; }
  th, td { padding: .7mm 1.2mm; }
  li { margin: 0; }
  .events li + li { margin-top: .8mm; }
  tr, li, figure { break-inside: avoid; }
  footer { display: none; }
}
"""


def wheel_page(project: Project, year: int) -> str:
    """The whole HTML page of the year's wheel."""
    assert project.config is not None
    ag = project.config.agreement
    tz = project.tz
    delivered = deliveries(project, datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz))
    arcs = build_arcs(project, year, delivered)
    ticks = build_ticks(project, delivered)
    rings = build_rings(project, year, delivered)
    parties = " och ".join(p.name for p in ag.parties.values())
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="sv">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Årshjul {year} – {_e(ag.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>Årshjul {year}: trygghet i samverkan</h1>",
        f"<p>{_e(ag.title)}</p>",
        f"<p>{_e(parties)}</p>",
        "</header>",
        "<main>",
        '<div class="layout">',
        "<figure>",
        wheel_svg(project, year, arcs, ticks, rings),
        "</figure>",
        "<div>",
        checks_html(project, year, arcs, rings),
        legend_html(),
        "</div>",
        "</div>",
        table_html(project, year, arcs, rings, delivered),
        "</main>",
        f"<footer>Gjord med <code>samverkan plan --format html --year {year}</code>.</footer>",
        "</body>",
        "</html>",
        "",
    ])
