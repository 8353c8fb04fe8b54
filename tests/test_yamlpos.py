"""Positions read when asked for (samverkan/yamlpos.py): the same data and the same
positions as read at once, and a valid plan loads without reading them."""

from __future__ import annotations

from pathlib import Path

import pytest

from samverkan import yamlpos
from samverkan.loading import load_project

TEXTS = [
    "a: 1\nb: [x, 'y', 7:30]\nc:\n  - {d: 2018-08-13 07:30}\n  - e: null\n    f: ~\n",
    "# bara en kommentar\n",
    "",
    "- 1\n- två\n",
    "a: 1\nb:\n  a: 2\n  a: 3\n",  # a duplicate key: positions at once, for the report
    "? [x, y]\n: z\n",
    "base: &b {x: 1, y: [2, 3]}\nderived:\n  <<: *b\n  y: 4\nalias: *b\n",
    "1: ett\ntrue: sant\n~: inget\n2018-08-13: datum\n0x1f: hex\n",
    "a: !!str 7\nb: !!int '8'\nc: !!set {x, y}\nd: 1:30\ne: |\n  två\n  rader\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_positions_read_when_asked_for_are_those_read_at_once(text: str) -> None:
    eager = yamlpos.load(text)
    lazy = yamlpos.load(text, positions=False)
    assert lazy.data == eager.data
    assert lazy.duplicates == eager.duplicates
    assert lazy.empty == eager.empty == (not eager.values)
    paths = list(eager.values) + [("nothing", 3)]
    assert [lazy.where(p) for p in paths] == [eager.where(p) for p in paths]
    assert [lazy.where(p, key=True) for p in eager.keys] == [eager.where(p, key=True) for p in eager.keys]
    assert (lazy.values, lazy.keys, lazy.source) == (eager.values, eager.keys, None)


def test_a_valid_plan_is_loaded_without_reading_its_positions(sample_root: Path) -> None:
    project = load_project(sample_root)
    assert not project.problems.errors
    assert all(c.located is not None and c.located.source is not None for c in project.campaigns.values())
    assert project.config_located is not None and project.config_located.source is not None
    for campaign in list(project.campaigns.values())[:3]:
        text = (sample_root / campaign.file).read_text(encoding="utf-8")
        for path in [("messages", 1, "title"), ("period",), ("messages", 0, "at")]:
            assert campaign.where(*path) == yamlpos.load(text).where(path) != (1, 1)
        assert campaign.located is not None and campaign.located.source is None  # read once, when asked


def test_a_renamed_key_finds_its_positions_in_a_file_whose_positions_were_not_read() -> None:
    """A misspelt key (``chanels:``) is read as the right one for the later checks, which
    look its values up under the right name."""
    from samverkan.loading import _aliased

    text = "agreement: {}\nchanels:\n  webb: {publisher: rss}\n"
    lazy = yamlpos.load(text, positions=False)
    aliased = _aliased(lazy, {("chanels",): ("channels",)})
    assert aliased.where(("channels", "webb", "publisher")) == yamlpos.load(text).where(("chanels", "webb", "publisher")) == (3, 21)
