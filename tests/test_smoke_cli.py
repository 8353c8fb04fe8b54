from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from samverkan.cli import cli
from tests.conftest import dedent

GOOD = """\
title: Säker skolstart
summary: Trafiken runt skolorna.
priority_areas: [trafik]
bases: [lupp]
period: {start: 2018-08-13, end: 2018-09-09}
messages:
  - key: start
    at: 2018-08-13 07:30
    title: Nu börjar skolan
    body: Sänk farten.
"""


def test_validate_reports_positions_across_files(make_root) -> None:
    root = make_root(campaigns={"a": GOOD, "b": GOOD.replace("trafik]", "trafk]"), "c": GOOD.replace("title: Nu", "titel: Nu")})
    result = CliRunner().invoke(cli, ["validate", "--root", str(root)])
    assert result.exit_code == 1
    assert "campaigns/b.yaml:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)" in result.output
    assert "campaigns/c.yaml:9:5: error: unknown key 'titel'; did you mean 'title'?" in result.output


def test_valid_plan_exits_zero_and_plan_lists_deliveries(make_root) -> None:
    root = make_root(campaigns={"a": GOOD})
    assert CliRunner().invoke(cli, ["validate", "--root", str(root)]).exit_code == 0
    result = CliRunner().invoke(cli, ["plan", "--root", str(root), "--year", "2018"])
    assert result.exit_code == 0, result.output
    assert "07:30  a/start/webb" in result.output
