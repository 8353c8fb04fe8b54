"""Shared fixtures: throw-away plan folders to write files into. The texts they start
from are in tests/helpers/plans.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.helpers.plans import MINIMAL_CONFIG, NOTEBOOK_CHANNEL, REPO, campaign, dedent, message, with_channels
from tests.helpers.browser import browser, phone  # noqa: F401 (fixtures for every test file)
from tests.helpers.plugin import install_plugin


@pytest.fixture
def make_root(tmp_path: Path) -> Callable[..., Path]:
    """``make_root(config=..., campaigns={"name": "yaml"})`` → a plan folder."""

    def make(config: str = MINIMAL_CONFIG, campaigns: dict[str, str] | None = None) -> Path:
        root = tmp_path / "plan"
        (root / "campaigns").mkdir(parents=True, exist_ok=True)
        (root / "config.yaml").write_text(dedent(config), encoding="utf-8")
        if "recipients: content/presslista.csv" in config:  # validate wants the press list to exist
            (root / "content").mkdir(exist_ok=True)
            (root / "content" / "presslista.csv").write_text("name,email,outlet\nLena,lena@tidning.example,Tidningen\n", encoding="utf-8")
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


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The notebook plugin installed on sys.path and PYTHONPATH, found by entry point."""
    env = install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    from publishers import base

    monkeypatch.setattr(base, "_registry", None)  # rediscover entry points with the plugin
    return env


@pytest.fixture
def approval_root(make_root: Callable[..., Path], plugin_env: dict[str, str]) -> Path:
    """A plan whose one message, skola/start at 2018-08-13 07:30 on the notebook channel,
    both parties must approve."""
    config = with_channels(NOTEBOOK_CHANNEL, config=MINIMAL_CONFIG.replace("approval: []", "approval: [kommunen, polisen]"))
    text = campaign(message(at="2018-08-13 07:30", channels="[notes]"), period=("2018-08-01", "2018-09-09"))
    return make_root(config=config, campaigns={"skola": text})


@pytest.fixture(autouse=True)
def english_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests read the messages as written (English) unless they ask for a language:
    the plans they make say locale: sv, which would make every command speak Swedish."""
    monkeypatch.setenv("SAMVERKAN_LANG", "en")
    from samverkan.i18n import set_language

    set_language("en")


@pytest.fixture
def accounted(tmp_path: Path) -> Iterator[None]:
    """After the test: every plan folder it made (make_root's, sample_root's) accounts for
    every delivery in exactly one state that status shows (tests/helpers/accounting.py)."""
    from tests.helpers.accounting import assert_accounted

    yield
    for root in (tmp_path / "plan", tmp_path / "sample"):
        if (root / "config.yaml").is_file():
            assert_accounted(root)
