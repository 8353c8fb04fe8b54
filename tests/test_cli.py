"""The command line of validate, plan and schema: output, exit codes, --root/--now, and
that validate stays light (issue 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result

from samverkan.cli import cli
from tests.helpers.plans import CORPUS_CAMPAIGN, CORPUS_CONFIG, REPO, camp, conf


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- validate --------------------------------------------------------------------------


def test_validate_reports_every_file_in_one_run_sorted(make_root: Callable[..., Path]) -> None:
    root = make_root(
        config=conf("catch_up: 6h", "catch_up: 6 timmar"),
        campaigns={
            "c-jul": camp("[trafik]", "[trafk]"),
            "a-brand": camp("title: Nu börjar skolan", "title: 'Nu börjar' skolan"),
            "b-vatten": camp("[lupp]", "[lup]") + "partnrs: [frg]\n",
            "d-ok": CORPUS_CAMPAIGN,
        },
    )
    result = run("validate", "--root", str(root))
    assert result.exit_code == 1
    errors = [line for line in lines(result.stderr) if ": error: " in line]
    assert errors == [
        "config.yaml:19:11: error: catch_up: '6 timmar' is not a duration; write e.g. 30m, 6h, 7d or 2w",
        "campaigns/a-brand.yaml:15:24: error: YAML syntax: unexpected text after the value; if the value starts with a quote, quote all of it",
        "campaigns/b-vatten.yaml:4:9: error: unknown basis 'lup'; did you mean 'lupp'? (known: lupp, trygghet)",
        "campaigns/b-vatten.yaml:17:1: error: unknown key 'partnrs'; did you mean 'partners'?",
        "campaigns/c-jul.yaml:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
    ]
    # config.yaml does not validate, so no campaign is part of a plan
    assert lines(result.stderr)[-1].startswith(
        "0 campaign file(s) valid, 3 with errors, 1 held back until config.yaml validates; 5 error(s)")


def test_one_broken_campaign_does_not_hide_another(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={
        "a": camp("[trafik]", "[trafk]"),
        "b": camp("at: 2018-08-13 07:30", "at: 2018-09-13 07:30"),
        "c": CORPUS_CAMPAIGN,
    })
    result = run("validate", "--root", str(root))
    assert result.exit_code == 1
    assert [line for line in lines(result.stderr) if ": error: " in line] == [
        "campaigns/a.yaml:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
        "campaigns/b.yaml:13:9: error: at: 2018-09-13 07:30 is outside the campaign's period 2018-08-13 – 2018-09-09",
    ]
    assert lines(result.stderr)[-1].startswith("1 campaign file(s) valid, 2 with errors;")


def test_two_problems_at_one_place_are_both_reported(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"b": camp("at: 2018-08-13 07:30", "at: 2018-03-25 02:30")})
    result = run("validate", "--root", str(root))
    assert [line for line in lines(result.stderr) if ": error: " in line] == [
        "campaigns/b.yaml:13:9: error: at: 2018-03-25 02:30 does not exist in Europe/Stockholm (the clocks go forward that night); pick another time, e.g. 03:00, the first after the change",
        "campaigns/b.yaml:13:9: error: at: 2018-03-25 02:30 is outside the campaign's period 2018-08-13 – 2018-09-09",
    ]


def test_validate_json(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": camp("[trafik]", "[trafk]"), "b": CORPUS_CAMPAIGN})
    result = run("validate", "--root", str(root), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("ok", "strict", "campaigns", "broken", "errors")} == {
        "ok": False, "strict": False, "campaigns": 1, "broken": ["campaigns/a.yaml"], "errors": 1,
    }
    assert isinstance(data["warnings"], int)
    assert data["problems"][0] == {
        "file": "campaigns/a.yaml",
        "line": 3,
        "col": 18,
        "severity": "error",
        "message": "unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
    }
    assert all(set(p) == {"file", "line", "col", "severity", "message"} for p in data["problems"])


# One campaign in 2018, on 'trafik' only, citing 'lupp' only, and no routine: every
# agreement check has something to say.
AGREEMENT_WARNINGS = [
    "config.yaml:13:5: {sev}: 2018: no campaign on the priority area 'brand' (Brandskydd)",
    "config.yaml:16:5: {sev}: the basis 'trygghet' (Trygghetsundersökning) is never cited by a campaign",
    "config.yaml:17:27: {sev}: 2018: 1 campaign(s), the agreement asks for at least 2",
]


@pytest.mark.parametrize("strict", [False, True])
def test_agreement_checks_warn_and_strict_makes_them_errors(make_root: Callable[..., Path], strict: bool) -> None:
    root = make_root(config=conf("min_campaigns_per_year: 1", "min_campaigns_per_year: 2"), campaigns={"a": CORPUS_CAMPAIGN})
    result = run("validate", "--root", str(root), *(["--strict"] if strict else []))
    sev = "error" if strict else "warning"
    out = lines(result.output)
    for expected in AGREEMENT_WARNINGS:
        assert expected.format(sev=sev) in out
    assert result.exit_code == (1 if strict else 0)


def test_agreement_checks_are_quiet_when_the_plan_meets_them(make_root: Callable[..., Path]) -> None:
    brand = camp("[trafik]", "[brand]").replace("[lupp]", "[trygghet]")
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": CORPUS_CAMPAIGN, "b": brand})
    result = run("validate", "--root", str(root), "--format", "json")
    messages = [p["message"] for p in json.loads(result.stdout)["problems"] if p["file"] == "config.yaml"]
    assert not [m for m in messages if "campaign(s)" in m or "priority area" in m or "never cited" in m]


# --- plan ------------------------------------------------------------------------------


def test_plan_lists_a_broken_campaign_as_not_in_the_plan(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": CORPUS_CAMPAIGN, "b": camp("[lupp]", "[lup]")})
    result = run("plan", "--root", str(root), "--year", "2018")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert "    07:30  a/start/webb" in out
    assert not [line for line in out if "b/start" in line]
    i = out.index("Not in the plan (files with errors; run samverkan validate):")
    assert out[i + 1 :] == ["  campaigns/b.yaml"]
    data = json.loads(run("plan", "--root", str(root), "--year", "2018", "--format", "json").stdout)
    assert data["broken"] == ["campaigns/b.yaml"]
    assert [c["key"] for c in data["campaigns"]] == ["a"]


def test_plan_year_outside_the_agreement(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": CORPUS_CAMPAIGN})
    result = run("plan", "--root", str(root), "--year", "2030")
    assert result.exit_code == 1
    assert result.stderr == "error: 2030 is outside the agreement's period (2018–2018)\n"


# --- usage errors: exit 2 --------------------------------------------------------------


def test_unknown_option_is_a_usage_error(make_root: Callable[..., Path]) -> None:
    result = run("validate", "--root", str(make_root()), "--strcit")
    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == "Error: No such option '--strcit'. Did you mean '--strict'?"


def test_bad_now_is_a_usage_error(make_root: Callable[..., Path]) -> None:
    result = run("plan", "--root", str(make_root()), "--now", "tomorrow")
    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == "Error: Invalid value for --now: 'tomorrow' is not an ISO date and time, e.g. 2018-08-13T07:30"


def test_now_picks_the_year_of_the_plan(make_root: Callable[..., Path]) -> None:
    root = make_root(config=conf("{start: 2018-01-01, end: 2018-12-31}", "{start: 2017-01-01, end: 2018-12-31}"),
                     campaigns={"a": CORPUS_CAMPAIGN})
    assert "Plan 2017" in lines(run("plan", "--root", str(root), "--now", "2017-05-01T12:00").stdout)
    assert "Plan 2018" in lines(run("plan", "--root", str(root), "--now", "2018-05-01T12:00").stdout)


# --- --root and $SAMVERKAN_ROOT ----------------------------------------------------------


def test_root_from_option_environment_and_current_folder(
    make_root: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": camp("[lupp]", "[lup]")})
    expected = "campaigns/a.yaml:4:9: error: unknown basis 'lup'; did you mean 'lupp'? (known: lupp, trygghet)"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("SAMVERKAN_ROOT", raising=False)

    assert expected in lines(run("validate", "--root", str(root)).stderr)
    assert expected in lines(run("validate", env={"SAMVERKAN_ROOT": str(root)}).stderr)
    # --root wins over the environment
    other = run("validate", "--root", str(elsewhere), env={"SAMVERKAN_ROOT": str(root)})
    assert other.exit_code == 1
    assert lines(other.stderr)[0] == f"config.yaml:1:1: error: no config.yaml in {elsewhere}; run samverkan in the plan's folder or pass --root"
    monkeypatch.chdir(root)
    assert expected in lines(run("validate").stderr)


# --- schema ------------------------------------------------------------------------------


def test_schema_prints_both_schemas_as_json() -> None:
    result = run("schema")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert sorted(data) == ["campaign.schema.json", "config.schema.json"]
    campaign, config = data["campaign.schema.json"], data["config.schema.json"]
    assert campaign["$schema"] == config["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"title", "period", "messages", "priority_areas"} <= set(campaign["properties"])
    assert {"agreement", "channels", "timezone", "catch_up"} <= set(config["properties"])
    assert campaign["additionalProperties"] is False


def test_schema_out_writes_two_files(tmp_path: Path) -> None:
    out = tmp_path / "schema"
    result = run("schema", "--out", str(out))
    assert result.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["campaign.schema.json", "config.schema.json"]
    assert lines(result.stdout) == [f"wrote {out / 'config.schema.json'}", f"wrote {out / 'campaign.schema.json'}"]
    assert json.loads((out / "campaign.schema.json").read_text(encoding="utf-8"))["title"] == "samverkan campaign file"


# --- staying light -------------------------------------------------------------------------

HEAVY = ("feedgen", "facebook", "apscheduler", "requests")


def test_validate_does_not_import_publishing_libraries(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": CORPUS_CAMPAIGN})
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import samverkan.cli\n"
        f"r = CliRunner().invoke(samverkan.cli.cli, ['validate', '--root', {str(root)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    assert out.stdout == "[]\n"


def test_validate_pauses_the_collector_while_it_runs_and_restores_it(make_root: Callable[..., Path], monkeypatch) -> None:
    """A validate run has the cyclic collector paused (it would rescan the libraries and
    the plan again and again), and leaves it as it was, in a process that goes on."""
    import gc

    from samverkan import validation

    seen: list[bool] = []
    real = validation.validate
    monkeypatch.setattr(validation, "validate", lambda *a, **k: (seen.append(gc.isenabled()), real(*a, **k))[1])
    root = make_root(config=CORPUS_CONFIG, campaigns={"d-ok": CORPUS_CAMPAIGN})
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    result = run("validate", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert seen == [False]
    assert gc.isenabled()
    # Nothing put out of the collector's sight without a collection first: garbage from
    # before would be kept for good.
    assert gc.get_freeze_count() <= frozen  # (frozen objects of earlier tests may be freed meanwhile)
    gc.disable()
    try:
        run("validate", "--root", str(root))
        assert not gc.isenabled()  # (as it was)
    finally:
        gc.enable()


# --- --root and --now before the subcommand (as `git -C` is typed) ------------------------


def test_root_and_now_are_taken_before_the_subcommand_too(make_root: Callable[..., Path], tmp_path: Path) -> None:
    good = make_root(config=CORPUS_CONFIG, campaigns={"a": CORPUS_CAMPAIGN})
    broken = tmp_path / "tom"
    broken.mkdir()
    before = run("--root", str(good), "validate")
    assert before.exit_code == 0, before.output
    assert before.output == run("validate", "--root", str(good)).output
    # after the subcommand wins over before it, and both over $SAMVERKAN_ROOT
    assert run("--root", str(broken), "validate", "--root", str(good)).exit_code == 0
    assert run("--root", str(good), "validate", env={"SAMVERKAN_ROOT": str(broken)}).exit_code == 0
    assert run("validate", env={"SAMVERKAN_ROOT": str(good)}).exit_code == 0
    assert run("--root", str(broken), "validate").exit_code == 1

    status_now = run("--root", str(good), "--now", "2018-08-13T07:00", "status", "--format", "json")
    assert status_now.exit_code == 0, status_now.output
    assert status_now.output == run("status", "--root", str(good), "--now", "2018-08-13T07:00", "--format", "json").output
    assert status_now.output != run("status", "--root", str(good), "--now", "2019-12-30T07:00", "--format", "json").output
    bad = run("--now", "i morgon", "validate", "--root", str(good))
    assert bad.exit_code == 2 and "'i morgon' is not an ISO date and time" in bad.output


def test_a_file_with_a_content_error_is_counted_with_errors_and_held(make_root: Callable[..., Path]) -> None:
    """A missing alt text is found by the content checks, not the schema: the file is still
    not valid, and the daemon holds it."""
    root = make_root(config=CORPUS_CONFIG, campaigns={
        "a": CORPUS_CAMPAIGN + "    image: {path: content/images/x.png, alt: ''}\n", "b": CORPUS_CAMPAIGN})
    (root / "content" / "images").mkdir(parents=True, exist_ok=True)
    (root / "content" / "images" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = run("validate", "--root", str(root))
    assert result.exit_code == 1
    out = lines(result.stderr)
    assert out[-2:] == ["held, nothing of them published until they validate: campaigns/a.yaml",
                        "1 campaign file(s) valid, 1 with errors; 1 error(s), 7 warning(s)"]
    data = json.loads(run("validate", "--root", str(root), "--format", "json").output)
    assert (data["campaigns"], data["broken"]) == (1, ["campaigns/a.yaml"])


def test_a_file_with_a_schema_error_and_a_content_error_reports_both(make_root: Callable[..., Path]) -> None:
    """The content checks run on the messages that validate even when the file as a whole
    does not: one run shows every problem, not the schema's first and the rest later."""
    text = camp("title: Säker skolstart", "titel: Säker skolstart") + "    image: {path: content/images/x.png, alt: ''}\n"
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": text, "b": CORPUS_CAMPAIGN})
    (root / "content" / "images").mkdir(parents=True, exist_ok=True)
    (root / "content" / "images" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = run("validate", "--root", str(root))
    errors = [line for line in lines(result.stderr) if ": error: " in line]
    assert errors == ["campaigns/a.yaml:1:1: error: unknown key 'titel'; did you mean 'title'?",
                      "campaigns/a.yaml:17:12: error: image: no alt text; add alt: describing the picture for "
                      "readers who cannot see it"]
    assert lines(result.stderr)[-1].startswith("1 campaign file(s) valid, 1 with errors; 2 error(s)")
