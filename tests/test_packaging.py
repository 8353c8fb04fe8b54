"""The project as pip sees it: every import declared, and a build without warnings."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "samverkan").rglob("*.py")), *sorted((ROOT / "publishers").rglob("*.py")),
           ROOT / "scheduler.py"]
OWN = {"samverkan", "publishers", "scheduler"}


def imported_modules(files: list[Path]) -> set[str]:
    """The top-level names of every module the files import (absolute imports only)."""
    out: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add(node.module.split(".")[0])
    return out


def declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return {Requirement(r).name.lower().replace("_", "-") for r in reqs}


def test_every_third_party_import_of_the_code_is_a_declared_dependency() -> None:
    dists = packages_distributions()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    # an optional path (e.g. a sign-in library) may import what its extra declares
    allowed = declared().union(*(declared(e) for e in extras if e != "test"))
    third_party = {m for m in imported_modules(SOURCES) - OWN if m not in sys.stdlib_module_names}
    missing = {}
    for module in sorted(third_party):
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if not names & allowed:
            missing[module] = sorted(names)
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"


def test_the_urllib3_the_code_needs_is_the_one_declared() -> None:
    req = next(Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
               if r.startswith("urllib3"))
    assert not req.specifier.contains("1.26.20"), "NameResolutionError needs urllib3 2"
    assert req.specifier.contains("2.2.0")


def test_building_the_project_prints_no_warning_of_its_own(tmp_path: Path) -> None:
    """pip builds the wheel in an isolated environment, with the setuptools pyproject.toml asks for."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(tmp_path), "-v",
         "--disable-pip-version-check"],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0 and "No matching distribution" in proc.stdout + proc.stderr:
        pytest.skip("the package index cannot be reached for the build's setuptools")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    warnings = [line.strip() for line in out.splitlines()
                if "Warning" in line and "byte-compiling" not in line]
    assert warnings == []
    wheel = next(tmp_path.glob("samverkan-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "samverkan/templates/rss/item.html.j2" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
