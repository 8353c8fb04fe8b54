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

    # Swap two events that have keys in the file: each keeps its UID.
    path = small_root / "campaigns" / "trafik-var.yaml"
    text = path.read_text(encoding="utf-8").replace("  - title: Föräldraträff", "  - key: foraldratraff\n    title: Föräldraträff")
    path.write_text(text.replace("  - title: Temadag", "  - key: temadag\n    title: Temadag"), encoding="utf-8")
    before = {s: str(e["UID"]) for s, e in by_summary(ics_text(load_project(small_root))).items()}
    text = path.read_text(encoding="utf-8")
    head, rest = text.split("events:\n")
    events, tail = rest.split("messages:\n")
    first, second = events.split("  - key: temadag")
    path.write_text(f"{head}events:\n  - key: temadag{second}{first}messages:\n{tail}", encoding="utf-8")
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


def test_same_title_and_start_twice_get_distinct_uids_by_their_place(make_root: Callable[..., Path]) -> None:
    twice = VAR.replace("  - title: Temadag om cykelhjälm\n    start: 2018-03-26 18:00\n",
                        "  - title: Föräldraträff om trafiken\n    start: 2018-03-24 18:00\n")
    root = make_root(campaigns={"trafik-var": twice})
    uids = [str(e["UID"]) for e in events_of(ics_text(load_project(root)))]
    assert len(uids) == 2 and len(set(uids)) == 2


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


def ics_via_cli(root: Path, now: str) -> Calendar:
    result = CliRunner().invoke(cli, ["plan", "--root", str(root), "--format", "ics", "--now", now])
    assert result.exit_code == 0, result.output
    return Calendar.from_ical(result.output)


def test_correcting_an_events_time_keeps_its_uid_and_raises_its_sequence(small_root: Path) -> None:
    first = by_summary(ics_via_cli(small_root, "2018-03-01T10:00").to_ical().decode())
    meeting = first["Föräldraträff om trafiken"]
    assert int(meeting["SEQUENCE"]) == 0
    assert meeting["LAST-MODIFIED"].dt == datetime(2018, 3, 19, tzinfo=timezone.utc)  # its campaign's first day
    again = ics_via_cli(small_root, "2018-03-02T10:00")
    assert again.to_ical() == ics_via_cli(small_root, "2018-03-02T10:00").to_ical()  # nothing changed: same bytes
    assert by_summary(again.to_ical().decode())["Föräldraträff om trafiken"]["SEQUENCE"] == 0

    path = small_root / "campaigns" / "trafik-var.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("2018-03-24 18:00", "2018-03-24 18:30"), encoding="utf-8")
    corrected = by_summary(ics_via_cli(small_root, "2018-03-05T12:00").to_ical().decode())
    moved = corrected["Föräldraträff om trafiken"]
    assert str(moved["UID"]) == str(meeting["UID"])
    assert moved["DTSTART"].dt.hour == 18 and moved["DTSTART"].dt.minute == 30
    assert int(moved["SEQUENCE"]) == 1
    assert moved["LAST-MODIFIED"].dt == datetime(2018, 3, 5, 11, 0, tzinfo=timezone.utc)
    assert moved["DTSTAMP"].dt == moved["LAST-MODIFIED"].dt
    untouched = corrected["Temadag om cykelhjälm"]
    assert int(untouched["SEQUENCE"]) == 0

    # A renamed event too is the same event, one version on.
    path.write_text(path.read_text(encoding="utf-8").replace("Föräldraträff om trafiken", "Föräldramöte om trafiken"),
                    encoding="utf-8")
    renamed = by_summary(ics_via_cli(small_root, "2018-03-06T12:00").to_ical().decode())["Föräldramöte om trafiken"]
    assert str(renamed["UID"]) == str(meeting["UID"]) and int(renamed["SEQUENCE"]) == 2


def test_the_calendar_is_published_for_subscribers(small_root: Path) -> None:
    cal = ics_via_cli(small_root, "2018-03-01T10:00")
    assert cal["METHOD"] == "PUBLISH"


def test_two_events_with_one_key_is_an_error_at_the_second(make_root: Callable[..., Path]) -> None:
    keyed = VAR.replace("  - title: Föräldraträff", "  - key: traff\n    title: Föräldraträff").replace(
        "  - title: Temadag", "  - key: traff\n    title: Temadag")
    root = make_root(campaigns={"trafik-var": keyed})
    result = CliRunner().invoke(cli, ["validate", "--root", str(root)])
    assert result.exit_code == 1
    assert ("campaigns/trafik-var.yaml:14:10: error: key: event key 'traff' is used twice in this file "
            "(first on line 8); give each event its own key") in result.output.splitlines()
