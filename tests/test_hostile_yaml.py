"""Hostile YAML is refused cheaply and clearly (issue 14.2): what one file may cost is
limited (aliases expanded, nesting, size, values), each with an error at its place that
says what to change; never a traceback, never minutes or gigabytes."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Callable

import pytest

from samverkan import yamlpos
from samverkan.loading import MAX_YAML_BYTES
from tests.helpers.cli import validate
from tests.helpers.plans import MINIMAL_CONFIG, campaign, dedent


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the one before: width**levels
    values in a few hundred bytes."""
    lines = ["a: &a [x]"]
    prev = "a"
    for i in range(levels):
        name = "abcdefghijklmnop"[i + 1]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * width) + "]")
        prev = name
    return "\n".join(lines) + "\n"


HOSTILE = {
    "bomb": (alias_bomb(), "", "2:4: error: YAML: with its aliases (*name) written out, the file holds more than 100,000 values"),
    "nested": ("title: " + "[" * 700 + "]" * 700 + "\n", "", "1:39: error: YAML: lists and mappings are nested more than 32 levels deep here"),
    "loop": ("title: x\nmessages: &m [{key: a, more: *m}]\n", "", "2:11: error: YAML: an alias (*name) inside the value its anchor (&name) marks would repeat it without end"),
    "values": ("title: [" + "1," * 120_000 + "1]\n", "", "1:8: error: YAML: the file holds more than 100,000 values"),
    "nul": ("title: Varning\x00nu\n", "", "1:15: error: YAML: the character U+0000 cannot be in a YAML file"),
    "bell": (campaign().replace("Nu börjar", "Nu\x07 börjar"), "", "U+0007 cannot be in a YAML file"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_campaign_file_is_one_positioned_error_in_bounded_time(
    name: str, make_root: Callable[..., Path]
) -> None:
    text, _, expected = HOSTILE[name]
    root = make_root(campaigns={"ok": campaign(), "hostile": text})
    started = time.monotonic()
    code, lines = validate(root)
    assert time.monotonic() - started < 5
    assert code == 1
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1, lines
    assert errors[0].startswith("campaigns/hostile.yaml:") and expected in errors[0], errors
    assert not any("Traceback" in line or "RecursionError" in line for line in lines)


def test_the_alias_bomb_of_the_issue_stops_early_in_little_memory() -> None:
    bomb = alias_bomb()
    assert len(bomb) < 400
    for positions in (False, True):
        tracemalloc.start()
        try:
            with pytest.raises(yamlpos.YamlSyntaxError):
                yamlpos.load(bomb, positions=positions)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 100 * 2**20  # (9**9 values would be gigabytes)


def test_a_hostile_config_yaml_is_refused_at_its_place(make_root: Callable[..., Path]) -> None:
    root = make_root(config=MINIMAL_CONFIG + "extra: " + "{a: " * 40 + "1" + "}" * 40 + "\n", campaigns={"ok": campaign()})
    code, lines = validate(root)
    assert code == 1
    assert any(line.startswith("config.yaml:") and "nested more than 32 levels deep" in line for line in lines), lines


def test_a_file_past_the_size_limit_is_not_read_past_it(make_root: Callable[..., Path]) -> None:
    filler = "# " + "x" * 97 + "\n"  # 100 bytes a line
    text = dedent(campaign()) + filler * (MAX_YAML_BYTES // 100 + 10)
    root = make_root(campaigns={"ok": campaign(), "huge": text})
    code, lines = validate(root)
    assert code == 1
    line = (MAX_YAML_BYTES - len(dedent(campaign()))) // 100 + len(dedent(campaign()).splitlines()) + 1
    assert f"campaigns/huge.yaml:{line}:1: error: the file is larger than 256 KB (this line is past it)" in "\n".join(lines)


def test_a_config_yaml_that_is_a_pipe_does_not_block(make_root: Callable[..., Path]) -> None:
    import os

    root = make_root()
    (root / "config.yaml").unlink()
    os.mkfifo(root / "config.yaml")
    code, lines = validate(root)
    assert code == 1
    assert "config.yaml:1:1: error: cannot read the file: it is not a regular file" in lines


def test_aliases_within_the_limits_still_work(make_root: Callable[..., Path]) -> None:
    text = campaign().replace("messages:\n", "bases: &b [lupp]\nmessages:\n").replace("bases: [lupp]\n", "")
    root = make_root(campaigns={"ok": text + "partners: *b\n"})
    code, lines = validate(root)
    assert code == 0, lines


@pytest.mark.parametrize("value", ["!!int x", "!!float .nanx", "!!bool maybe", "0x_", "!!int " + "9" * 5000])
def test_a_value_its_tag_does_not_fit_is_kept_as_written(value: str) -> None:
    written = value.split(" ")[-1]
    assert yamlpos.load(f"a: {value}\n", positions=False).data == {"a": written}
    assert yamlpos.load(f"? {value}\n: b\n").data == {written: "b"}
