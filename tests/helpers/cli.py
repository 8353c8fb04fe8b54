"""The command line run in-process, as the tests read it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from samverkan.cli import cli


def validate(root: Path) -> tuple[int, list[str]]:
    """``samverkan validate --root ROOT``: its exit code and the lines it printed."""
    result = CliRunner().invoke(cli, ["validate", "--root", str(root)])
    return result.exit_code, result.output.splitlines()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """``samverkan ARGS...`` with ``env`` added to the environment. An exception the command
    does not turn into an exit code is raised here, traceback and all."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
