"""Shared fixtures: a throw-away plan folder to write files into."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parent.parent

MINIMAL_CONFIG = """\
agreement:
  title: Testöverenskommelse
  period: {start: 2018-01-01, end: 2018-12-31}
  parties:
    kommunen:
      name: Testkommun
      short_name: Kommunen
      press_contact: {name: Kim Kommun, title: Presschef, phone: "+46 1", email: press@kommun.example}
    polisen:
      name: Polisen Test
      short_name: Polisen
      press_contact: {name: Pat Polis, title: Kommunpolis, phone: "+46 2", email: press@polisen.example}
  priority_areas:
    trafik: Trafiksäkerhet
    brand: Brandskydd
  bases:
    lupp: LUPP
timezone: Europe/Stockholm
approval: []
channels:
  webb:
    publisher: rss
    output: public/feed.xml
    title: Nyheter
    link: https://kommun.example/trygghet
    self_url: https://kommun.example/trygghet/feed.xml
    description: Gemensamma nyheter
defaults:
  channels: [webb]
"""


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def make_root(tmp_path: Path) -> Callable[..., Path]:
    """``make_root(config=..., campaigns={"name": "yaml"})`` → a plan folder."""

    def make(config: str = MINIMAL_CONFIG, campaigns: dict[str, str] | None = None) -> Path:
        root = tmp_path / "plan"
        (root / "campaigns").mkdir(parents=True, exist_ok=True)
        (root / "config.yaml").write_text(dedent(config), encoding="utf-8")
        for name, text in (campaigns or {}).items():
            (root / "campaigns" / f"{name}.yaml").write_text(dedent(text), encoding="utf-8")
        return root

    return make


@pytest.fixture
def sample_root(tmp_path: Path) -> Path:
    """A copy of the bundled sample plan (config.yaml, campaigns/, content/)."""
    root = tmp_path / "sample"
    root.mkdir()
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    for folder in ("campaigns", "content"):
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, root / folder)
    return root
