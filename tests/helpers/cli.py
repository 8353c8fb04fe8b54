"""The command line run in-process, as the tests read it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from samverkan.cli import cli


def validate(root: Path) -> tuple[int, list[str]]:
    """``samverkan validate --root ROOT``: its exit code and the lines it printed."""
    result = CliRunner().invoke(cli, ["validate", "--root", str(root)])
    return result.exit_code, result.output.splitlines()
