"""``plan --format ics``: the events calendar parses back, keeps its UIDs and its local times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from samverkan.calendar_ics import build_calendar, ics_text
from samverkan.cli import cli
from samverkan.loading import load_project
from tests.helpers.plans import campaign, event, message

ROUTINE = campaign(
    message("lagesbild", "2018-01-02 09:00", "Lägesbild", "Läget i kommunen.", repeat="{every: 14d, until: 2018-12-31}"),
    kind="routine", title="Lägesbild", summary="Var fjortonde dag.", bases=None, period=("2018-01-01", "2018-12-31"),
)

# Two meetings either side of the night the clocks go forward (25 March 2018), one with
# no end time, and a second campaign with one event.
VAR = """\
title: Trafik i vår
summary: |
  Kommunen och polisen
  pratar om trafiken.
priority_areas: [trafik, brand]
period: {start: 2018-03-19, end: 2018-04-01}
events:
  - title: Föräldraträff om trafiken
    start: 2018-03-24 18:00
    end: 2018-03-24 19:30
    location: Aulan, Testskolan
    description: Om skolvägen.
  - title: Temadag om cykelhjälm
    start: 2018-03-26 18:00
messages:
  - key: start
    at: 2018-03-19 09:00
    title: Trafik i vår
    body: Nu börjar vi.
    link: https://kommun.example/trafik
"""

HOST = campaign(
    message(at="2018-10-01 09:00", title="Brand i höst", body="Testa brandvarnaren."),
    title="Brand i höst", summary="Brandskydd.", priority_areas="[brand]", bases=None, period=("2018-10-01", "2018-10-31"),
    events=[event("Öppet hus på brandstationen", "2018-10-28 10:00", "2018-10-28 14:00", "Brandstationen")],
)


@pytest.fixture
def small_root(make_root: Callable[..., Path]) -> Path:
    return make_root(campaigns={"trafik-var": VAR, "brand-host": HOST, "lagesbild": ROUTINE})


def events_of(text: str) -> list[Any]:
    return list(Calendar.from_ical(text).walk("VEVENT"))


def by_summary(text: str) -> dict[str, Any]:
    return {str(e["SUMMARY"]): e for e in events_of(text)}


def test_sample_plan_parses_back_with_every_event(sample_root: Path) -> None:
    project = load_project(sample_root)
    expected = sum(len(c.events) for c in project.campaigns.values())
    assert expected > 10  # the sample has events in every year
    events = events_of(ics_text(project))
    assert len(events) == expected
    in_2018 = events_of(ics_text(project, 2018))
    assert len(in_2018) == sum(1 for c in project.campaigns.values() for e in c.events if e.start.year == 2018)
    assert {e.decoded("DTSTART").year for e in in_2018} == {2018}


def test_uids_are_unique_and_stable_across_runs_and_reordering(small_root: Path, sample_root: Path) -> None:
    sample = ics_text(load_project(sample_root))
    assert sample == ics_text(load_project(sample_root))  # the same plan gives the same bytes
    uids = [str(e["UID"]) for e in events_of(sample)]
    assert len(uids) == len(set(uids))
    assert all(u.startswith("samverkan-") and u.endswith("@hultsfred.se") for u in uids)

    before = {s: str(e["UID"]) for s, e in by_summary(ics_text(load_project(small_root))).items()}
    # Swap the two events in the file: each keeps its UID.
    path = small_root / "campaigns" / "trafik-var.yaml"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split("events:\n")
    events, tail = rest.split("messages:\n")
    first, second = events.split("  - title: Temadag")
    path.write_text(f"{head}events:\n  - title: Temadag{second}{first}messages:\n{tail}", encoding="utf-8")
    after = {s: str(e["UID"]) for s, e in by_summary(ics_text(load_project(small_root))).items()}
    assert list(load_project(small_root).campaigns["trafik-var"].events)[0].title == "Temadag om cykelhjälm"
    assert after == before
    assert all(u.endswith("@samverkan.local") for u in after.values())  # no party website


def test_local_times_across_the_spring_dst_change(small_root: Path) -> None:
    text = ics_text(load_project(small_root))
    assert "DTSTART;TZID=Europe/Stockholm:20180324T180000" in text.replace("\r\n", "\n")
    events = by_summary(text)
    before = events["Föräldraträff om trafiken"].decoded("DTSTART")
    after = events["Temadag om cykelhjälm"].decoded("DTSTART")
    for start in (before, after):
        assert (start.hour, start.minute) == (18, 0)
        assert str(start.tzinfo) == "Europe/Stockholm"
    assert before.isoformat() == "2018-03-24T18:00:00+01:00"
    assert after.isoformat() == "2018-03-26T18:00:00+02:00"
    # In UTC the same 18:00 is an hour earlier after the change.
    assert before.astimezone(timezone.utc).hour == 17
    assert after.astimezone(timezone.utc).hour == 16


def test_calendar_has_timezone_names_and_swedish_text(small_root: Path) -> None:
    text = ics_text(load_project(small_root))
    assert "\r\n" in text  # RFC 5545 line ends
    cal = Calendar.from_ical(text)
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/Stockholm"
    assert str(cal["X-WR-CALNAME"]) == "Testkommun och Polisen – träffar om trygghet"
    assert str(cal["PRODID"]).startswith("-//samverkan//")
    zones = list(cal.walk("VTIMEZONE"))
    assert [str(z["TZID"]) for z in zones] == ["Europe/Stockholm"]

    events = by_summary(text)
    meeting = events["Föräldraträff om trafiken"]
    assert str(meeting["LOCATION"]) == "Aulan, Testskolan"
    assert str(meeting["DESCRIPTION"]) == (
        "Om skolvägen.\n\n"
        "Trafik i vår: Kommunen och polisen pratar om trafiken.\n\n"
        "Arrangeras av Testkommun och Polisen.\n\n"
        "Läs mer: https://kommun.example/trafik"
    )
    assert [str(c) for c in meeting["CATEGORIES"].cats] == ["Trafiksäkerhet", "Brandskydd"]
    assert meeting.decoded("DTEND").isoformat() == "2018-03-24T19:30:00+01:00"
    # DTSTAMP comes from the campaign, not the clock.
    assert meeting.decoded("DTSTAMP") == datetime.fromisoformat("2018-03-19T00:00:00+00:00")

    no_end = events["Temadag om cykelhjälm"]
    assert no_end.decoded("DTEND") - no_end.decoded("DTSTART") == timedelta(hours=1)
    autumn = events["Öppet hus på brandstationen"]  # the day the clocks go back
    assert autumn.decoded("DTSTART").isoformat() == "2018-10-28T10:00:00+01:00"


def test_only_campaign_events_become_calendar_events(small_root: Path) -> None:
    project = load_project(small_root)
    assert "lagesbild" in project.campaigns  # a routine with 26 messages and no events
    assert len(list(build_calendar(project).walk("VEVENT"))) == 3


def test_same_title_and_start_twice_get_distinct_uids(make_root: Callable[..., Path]) -> None:
    twice = VAR.replace("  - title: Temadag om cykelhjälm\n    start: 2018-03-26 18:00\n",
                        "  - title: Föräldraträff om trafiken\n    start: 2018-03-24 18:00\n")
    root = make_root(campaigns={"trafik-var": twice})
    uids = [str(e["UID"]) for e in events_of(ics_text(load_project(root)))]
    assert len(uids) == 2 and len(set(uids)) == 2
    assert uids[1] == uids[0].replace("@", "-2@")


def test_cli_writes_the_calendar_file(sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "trygghet.ics"
    result = CliRunner().invoke(cli, ["plan", "--root", str(sample_root), "--format", "ics", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    data = out.read_bytes()
    assert data.startswith(b"BEGIN:VCALENDAR\r\n")
    project = load_project(sample_root)
    assert len(events_of(data.decode("utf-8"))) == sum(len(c.events) for c in project.campaigns.values())

    one_year = CliRunner().invoke(cli, ["plan", "--root", str(sample_root), "--format", "ics", "--year", "2019"])
    assert one_year.exit_code == 0
    starts = [e.decoded("DTSTART") for e in events_of(one_year.output)]
    assert starts and all(s.year == 2019 for s in starts)

    outside = CliRunner().invoke(cli, ["plan", "--root", str(sample_root), "--format", "ics", "--year", "2030"])
    assert outside.exit_code == 1
    assert "outside the agreement's period" in outside.output


def test_a_plan_without_events_is_still_a_valid_calendar(make_root: Callable[..., Path]) -> None:
    cal = Calendar.from_ical(ics_text(load_project(make_root(campaigns={"lagesbild": ROUTINE}))))
    assert list(cal.walk("VEVENT")) == []
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Europe/Stockholm"]
