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


MAIN = """\
import atexit, sys
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
sys.argv = ["samverkan", *sys.argv[1:]]
from samverkan.cli import main
main()
"""


def test_validate_as_a_process_of_its_own_exits_as_the_interpreter_would(make_root) -> None:
    """The exit code, every line of output and the exit handlers, as a user's shell sees them."""
    import subprocess
    import sys

    good = make_root(campaigns={f"a{i}": GOOD for i in range(3)})
    run = subprocess.run([sys.executable, "-c", MAIN, "validate", "--root", str(good)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    *warnings, last = run.stderr.splitlines()
    assert last == "exit handler ran"
    assert warnings and all(": warning: " in line for line in warnings)  # the agreement's, for 2018 alone
    assert run.stdout == f"3 campaign file(s) valid, 0 with errors; 0 error(s), {len(warnings)} warning(s)\n"

    (good / "campaigns" / "b.yaml").write_text(GOOD.replace("trafik]", "trafk]"), encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", MAIN, "validate", "--root", str(good)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "campaigns/b.yaml:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
        "held, nothing of them published until they validate: campaigns/b.yaml",
        "3 campaign file(s) valid, 1 with errors; 1 error(s), 0 warning(s)",
        "exit handler ran",
    ]


def test_validate_as_a_process_of_its_own_with_json_strict_and_no_standard_output(make_root) -> None:
    import json
    import os
    import subprocess
    import sys

    root = make_root(campaigns={"a": GOOD})
    cmd = [sys.executable, "-c", MAIN, "validate", "--root", str(root)]
    run = subprocess.run([*cmd, "--strict", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1  # the agreement's warnings count as errors under --strict
    report = json.loads(run.stdout)  # every byte of it written
    assert report["ok"] is False and report["errors"] == len(report["problems"]) > 0
    # Started with its standard output closed (as from cron with >&-): no output, no crash.
    run = subprocess.run(cmd, stdout=None, stderr=subprocess.PIPE, text=True, timeout=120,
                         preexec_fn=lambda: os.close(1))
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines()[-1] == "exit handler ran"
