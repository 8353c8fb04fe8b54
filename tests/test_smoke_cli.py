from __future__ import annotations

from click.testing import CliRunner

from samverkan.cli import cli
from tests.helpers.plans import campaign, message

GOOD = campaign(message(body="Sänk farten."))  # line 3: priority_areas; line 9: the message's title


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
