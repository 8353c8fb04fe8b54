"""``plan --format html``: the annual wheel page, its arcs, checks and accessibility."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

from click.testing import CliRunner

from samverkan.cli import cli
from samverkan.loading import load_project
from samverkan.plan import year_summary
from samverkan.wheel import R_LANES_OUT, _lanes, full_period, wheel_page

from tests.helpers.plans import MINIMAL_CONFIG

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "embed", "source", "track", "wbr"}


class Page(HTMLParser):
    """Checks that tags nest and close, and collects what the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.attrs if t == name]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.errors == [] and page.stack == [], (page.errors, page.stack)
    return page


def arc_titles(html: str) -> dict[str, str]:
    return dict(re.findall(r'<g class="arc" data-campaign="([^"]+)">\s*<title>([^<]*)</title>', html))


def outer_radius(html: str, key: str) -> float:
    """The outer radius of a campaign's arc, from the first arc command of its path."""
    found = re.search(rf'data-campaign="{key}">.*?<path d="M[^A]*A([\d.]+),', html, re.S)
    assert found is not None, key
    return float(found[1])


def test_sample_2018_has_one_arc_per_campaign_and_the_checks(sample_root: Path) -> None:
    project = load_project(sample_root)
    html = wheel_page(project, 2018)
    page = parse(html)
    expected = year_summary(project, 2018).campaigns
    assert len(expected) == 5
    assert sorted(str(a["data-campaign"]) for a in page.tags("g") if "data-campaign" in a) == sorted(expected)
    assert html.count("data-campaign=") == 5
    # The routine is a dotted ring, not an arc.
    assert [a["data-routine"] for a in page.tags("g") if "data-routine" in a] == ["2018-lagesbild"]
    assert "Kampanjer i år: <strong>5 av minst 4</strong>" in html
    assert "Prioriterade områden: <strong>5 av 5 täckta</strong>" in html
    assert "✗ saknas" not in html
    text = " ".join(" ".join(page.text).split())
    assert "Underlag som kampanjerna bygger på: 6 av 6" in text
    assert "Gemensam lägesbild 2018: var 14:e dag, 26 tillfällen" in text
    titles = arc_titles(html)
    assert titles["2018-saker-skolstart"] == "3. Säker skolstart, 13 augusti – 9 september 2018 (Trafiksäkerhet, buskörning och hastighet)"
    # Every message occasion of a campaign is a tick (the routine's are dots on its ring).
    occasions = {
        (c.key, m.key, t) for c in project.campaigns.values() if c.model.kind == "campaign"
        for m in c.messages for t, _ in m.times if t.year == 2018
    }
    assert html.count('class="tick"') == len(occasions)
    # The text alternative lists each campaign with its number.
    for n, key in enumerate(titles, start=1):
        assert f'<tr id="kampanj-{key}"><td>{n}</td>' in html


def test_page_is_accessible_and_self_contained(sample_root: Path) -> None:
    html = wheel_page(load_project(sample_root), 2018)
    page = parse(html)
    assert html.startswith("<!DOCTYPE html>\n")
    assert page.tags("html") == [{"lang": "sv"}]
    assert "<title>Årshjul 2018 – Överenskommelse om samverkan" in html
    (svg,) = [a for a in page.tags("svg") if a.get("role") == "img"]
    assert svg["aria-labelledby"] == "hjul-titel hjul-beskrivning"
    assert '<title id="hjul-titel">Årshjul 2018</title>' in html
    assert re.search(r'<desc id="hjul-beskrivning">[^<]*5 kampanjer[^<]*</desc>', html)
    assert all(a.get("aria-hidden") == "true" for a in page.tags("svg") if a.get("role") != "img")
    assert len(page.tags("h1")) == 1 and len(page.tags("h2")) >= 2
    for name in ("januari", "mars", "augusti", "december"):
        assert f">{name}</text>" in html
    # No scripts, no files or fonts fetched from anywhere.
    assert page.tags("script") == [] and page.tags("link") == [] and page.tags("img") == []
    for _, attrs in page.attrs:
        for key in ("src", "href", "xlink:href"):
            assert not (attrs.get(key) or "").startswith(("http:", "https:", "//")), attrs
    assert "url(" not in html and "@import" not in html
    assert "@media print" in html and "size: A4" in html


def test_campaigns_are_clipped_to_the_year_and_overlaps_get_rings(make_root: Callable[..., Path]) -> None:
    config = MINIMAL_CONFIG.replace("{start: 2018-01-01, end: 2018-12-31}", "{start: 2017-01-01, end: 2018-12-31}")

    def campaign(title: str, start: str, end: str, area: str = "trafik") -> str:
        return (
            f"title: {title}\nsummary: Om {title}.\npriority_areas: [{area}]\n"
            f"period: {{start: {start}, end: {end}}}\n"
            f"messages:\n  - key: start\n    at: {start} 09:00\n    title: {title}\n    body: Text.\n"
        )

    root = make_root(config, campaigns={
        "jul": campaign("Jul & nyår <i>tryggt</i>", "2017-12-01", "2018-01-20"),
        "var": campaign("Vår", "2018-03-01", "2018-04-15"),
        "paskljus": campaign("Påsk", "2018-03-20", "2018-04-02"),
        "host": campaign("Höst", "2018-09-01", "2018-09-30"),
    })
    project = load_project(root)
    assert not project.problems.errors, project.problems
    html = wheel_page(project, 2018)
    parse(html)
    titles = arc_titles(html)
    assert list(titles) == ["jul", "var", "paskljus", "host"]  # numbered by (clipped) start
    # Escaped everywhere, and the dates of a campaign over new year name both years.
    assert "<i>" not in html
    assert titles["jul"] == "1. Jul &amp; nyår &lt;i&gt;tryggt&lt;/i&gt;, 1 december 2017 – 20 januari 2018 (Trafiksäkerhet)"
    # Clipped: the 2018 arc starts at 1 January, the top of the wheel, on the outer ring.
    jul_path = re.search(r'data-campaign="jul">.*?<path d="M([\d.]+),([\d.]+) ', html, re.S)
    assert jul_path and (float(jul_path[1]), float(jul_path[2])) == (300.0, 300.0 - R_LANES_OUT)
    # The Easter campaign overlaps spring's: it goes on an inner ring; autumn's reuses the outer.
    radius = {k: outer_radius(html, k) for k in titles}
    assert radius["var"] == radius["jul"] == radius["host"]
    assert radius["paskljus"] != radius["var"]
    # One area of two, too few campaigns: the checks say so.
    assert "Kampanjer i år: <strong>4 av minst 4</strong>" in html
    assert "Prioriterade områden: <strong>1 av 2 täckta</strong> <span class=\"missing\">✗ saknas</span>" in html
    assert "Brandskydd: <span class=\"missing\">✗ saknas</span>" in html
    assert "Trafiksäkerhet: <span class=\"ok\">✓ ok</span> <span class=\"who\">(kampanj 1, 2, 3, 4)</span>" in html
    assert "Lägesbild minst var 14:e dag: <span class=\"missing\">✗ saknas</span>" in html

    html_2017 = wheel_page(project, 2017)
    assert list(arc_titles(html_2017)) == ["jul"]
    assert "Kampanjer i år: <strong>1 av minst 4</strong> <span class=\"missing\">✗ saknas</span>" in html_2017


def test_lanes_put_only_overlapping_spans_apart() -> None:
    d = date.fromisoformat
    spans = [
        (d("2018-01-01"), d("2018-02-01")),
        (d("2018-01-15"), d("2018-03-01")),
        (d("2018-02-02"), d("2018-02-10")),
        (d("2018-02-05"), d("2018-02-20")),
        (d("2018-03-02"), d("2018-04-01")),
    ]
    assert _lanes(spans) == [0, 1, 0, 2, 0]
    assert full_period(d("2018-05-14"), d("2018-06-19")) == "14 maj – 19 juni 2018"


def test_cli_writes_the_wheel(sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "arshjul.html"
    args = ["plan", "--root", str(sample_root), "--format", "html", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--year", "2019"])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "<h1>Årshjul 2019" in html
    assert html.count("data-campaign=") == len(year_summary(load_project(sample_root), 2019).campaigns)
    # Without --year: the current year, kept inside the agreement's period.
    later = CliRunner().invoke(cli, [*args, "--now", "2030-05-01T12:00"])
    assert later.exit_code == 0, later.output
    assert "<h1>Årshjul 2019" in out.read_text(encoding="utf-8")


def test_a_year_without_campaigns(make_root: Callable[..., Path]) -> None:
    html = wheel_page(load_project(make_root()), 2018)
    parse(html)
    assert "data-campaign=" not in html and 'class="tick"' not in html
    assert "Kampanjer i år: <strong>0 av minst 4</strong> <span class=\"missing\">✗ saknas</span>" in html
    assert "Inga kampanjer det här året." in html


def test_a_campaign_on_several_areas_is_coloured_by_all_of_them(sample_root: Path) -> None:
    from samverkan.wheel import area_colours

    project = load_project(sample_root)
    html = wheel_page(project, 2018)
    colours = area_colours(project)
    for key in year_summary(project, 2018).campaigns:
        arc = re.search(rf'<g class="arc" data-campaign="{key}">(.*?)</g>', html, re.S)
        assert arc is not None
        fills = re.findall(r'<path class="area" d="[^"]*" fill="([^"]+)"/>', arc[1])
        assert fills == [colours[a] for a in project.campaigns[key].model.priority_areas], key
    assert project.campaigns["2018-unga-och-gang"].model.priority_areas == ["gang", "narkotika"]


def test_a_seven_campaign_year_prints_on_one_a4_page(sample_root: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """Printed from a browser (the page's own @page: A4 portrait), as staff print it."""
    extra = (sample_root / "campaigns" / "2019-isvett.yaml").read_text(encoding="utf-8").replace(
        "title: Isvett", "title: Isvett igen – en andra omgång med en ganska lång titel om trygghet på isen", 1)
    (sample_root / "campaigns" / "2019-isvett-igen.yaml").write_text(extra, encoding="utf-8")
    project = load_project(sample_root)
    assert len([k for k in year_summary(project, 2019).campaigns]) == 7
    page_file = sample_root / "arshjul.html"
    page_file.write_text(wheel_page(project, 2019), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(page_file.as_uri())
        pdf = page.pdf(prefer_css_page_size=True)
    finally:
        page.close()
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
