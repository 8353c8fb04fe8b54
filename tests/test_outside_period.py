"""With the real clock the sample agreement (2017-2019) has nothing due: approvals, status
and the previews say so and how to look at it, and approvals agrees with status."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from samverkan.cli import cli


def run(*args: str, lang: str = "en") -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"SAMVERKAN_LANG": lang})
    return result.exit_code, result.output


def test_after_the_period_approvals_and_status_say_why_nothing_shows(sample_root: Path) -> None:
    code, out = run("approvals", "--root", str(sample_root), "--now", "2026-12-08T09:00", lang="sv")
    assert code == 0
    assert out.splitlines()[:2] == [
        "inget väntar på godkännande",
        "Obs: överenskommelsens period slutade 2019-12-31: inget mer ska ut; för att se planen som en dag "
        "inom perioden, ange tiden, t.ex. --now 2018-10-01T08:00",
    ]
    code, out = run("status", "--root", str(sample_root), "--now", "2026-12-08T09:00")
    assert out.startswith("Note: the agreement's period ended on 2019-12-31: nothing more is due; to look at the "
                          "plan as on a day inside it, give the time, e.g. --now 2018-10-01T08:00\n")
    data = json.loads(run("status", "--root", str(sample_root), "--now", "2026-12-08T09:00", "--format", "json")[1])
    assert data["outside_period"].startswith("the agreement's period ended on 2019-12-31")
    assert json.loads(run("status", "--root", str(sample_root), "--now", "2018-08-01T09:00",
                          "--format", "json")[1])["outside_period"] is None
    code, out = run("approvals", "--root", str(sample_root), "--now", "2016-06-01T09:00")
    assert "the agreement's period starts on 2017-01-01: nothing is due yet" in out


def test_approvals_show_a_repeated_message_at_its_next_time_as_status_does(sample_root: Path) -> None:
    now = ("--now", "2018-08-01T09:00")
    _, text = run("approvals", "--root", str(sample_root), *now)
    times = {mid: at for at, mid in re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d)  (\S+)  awaiting", text, re.M)}
    data = json.loads(run("status", "--root", str(sample_root), *now, "--format", "json")[1])
    for a in data["awaiting_approval"]:
        assert times[a["message"]] == a["next_at"][:16].replace("T", " "), a
    assert times["2018-lagesbild/lagesbild"] == "2018-08-14 09:00"  # not its first time, in January
    listed = list(times.values())
    assert listed == sorted(listed)


def test_approval_times_are_local(sample_root: Path) -> None:
    code, out = run("approve", "2018-saker-skolstart/start", "--party", "polisen", "--by", "Mattias Ek",
                    "--root", str(sample_root), "--now", "2018-08-01T09:00")
    assert code == 0, out
    _, text = run("approvals", "--root", str(sample_root), "--now", "2018-08-01T09:30")
    assert re.search(r"approved by polisen: Mattias Ek \(cli, user [^)]*\), 2018-08-01 09:00$", text, re.M), text


def test_the_preview_page_says_why_it_is_empty(sample_root: Path) -> None:
    from samverkan.i18n import set_language
    from samverkan.previewserver import App

    set_language("sv")  # the page speaks the plan's language, as the server sets it
    try:
        _, page = App(sample_root, "2026-12-08T09:00").index()
    finally:
        set_language("en")
    assert "överenskommelsens period slutade 2019-12-31" in page and "--now 2018-10-01T08:00" in page
    _, inside = App(sample_root, "2018-08-01T09:00").index()
    assert "period slutade" not in inside and "period ended" not in inside
