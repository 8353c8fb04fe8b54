"""Whatever a campaign file holds, ``validate`` answers with positioned problems (issue 14):
generated and mutated campaign files, from the sample plan's own, go through the loading
and every check; no exception may come out, and no file may take long."""

from __future__ import annotations

import gc
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samverkan.validation import validate
from tests.helpers.plans import REPO

SAMPLES = sorted((REPO / "campaigns").glob("*.yaml"))
TEXTS = [p.read_text(encoding="utf-8") for p in SAMPLES]
DATA = [yaml.safe_load(t) for t in TEXTS]
NAME = "2018-fuzz.yaml"
SECONDS = 10  # per file, on a loaded machine (one takes well under a second)
GROWTH = 300 * 2**20  # the most a file may grow the process's peak memory by (bytes)
# Enough to run in seconds with the suite; SAMVERKAN_FUZZ_EXAMPLES=5000 to hunt for more.
EXAMPLES = int(os.environ.get("SAMVERKAN_FUZZ_EXAMPLES", "100"))

ODD_SCALARS = [
    "~", "null", "true", "no", "0", "-1", "1e999", ".nan", "-.inf", "0x1F", "0o17", "0b101", "1_000",
    "12:30", "7:30:00", "2018-02-30", "2018-13-01 25:61", "2018-08-13T07:30:00+02:00", "'2018-08-13'",
    '""', "''", '"\\v"', '"\\0"', '"\\a nu"', '"\\uFFFE"', '"\\x85"', '"\\U0001F600"', "!!int x", "!!float y",
    "!!binary AAAA", "!!timestamp 2018", "!!str", "!!null x", "!!bool maybe", "!!set {a}", "!!omap [a: 1]",
    "!!python/name:os.system", "!custom x", "&x 1", "*x", "[]", "{}", "[[[[]]]]", "{a: {b: {c: {}}}}",
    "- x", "? x", "<<: 1", "|", ">-", "@x", "`x", "%x", "#x", "x: y", "x #y", "'", '"', "[", "{", "]",
    "a" * 5000, "ö" * 300, "\u200b", "\U0001F600", "javascript:alert(1)", "../../etc/passwd", "/proc/self/environ",
    '{path: "content/\\0.png", alt: x}', "{path: /dev/zero, alt: x}", "{path: content, alt: x}", "{path: '', alt: ''}",
]
CONTROL = [chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127, 0x85, 0xA0, 0x2028, 0xFEFF, 0xFFFE, 0xFFFF)]

# Any value YAML can write: what odd types in every field look like.
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    | st.dates().map(str) | st.sampled_from(ODD_SCALARS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=4),
    max_leaves=12,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from paths(v, prefix + (i,))


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = dict(data) if isinstance(data, dict) else list(data)
    out[path[0]] = replaced(out[path[0]], path[1:], value)
    return out


@st.composite
def odd_field(draw: st.DrawFn) -> bytes:
    """A sample campaign with one field, anywhere, of another type or an odd value."""
    data = draw(st.sampled_from(DATA))
    where = draw(st.sampled_from(list(paths(data))))
    data = replaced(data, where, draw(VALUES))
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


@st.composite
def odd_scalar(draw: st.DrawFn) -> bytes:
    """A sample campaign with one value written as an odd YAML scalar (tags, escapes...)."""
    lines = draw(st.sampled_from(TEXTS)).splitlines()
    candidates = [i for i, line in enumerate(lines) if ": " in line]
    i = draw(st.sampled_from(candidates))
    key = lines[i].split(": ", 1)[0]
    lines[i] = f"{key}: {draw(st.sampled_from(ODD_SCALARS))}"
    return ("\n".join(lines) + "\n").encode("utf-8")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A sample campaign's bytes with a few flipped, inserted or deleted."""
    raw = bytearray(draw(st.sampled_from(TEXTS)).encode("utf-8"))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw) - 1))
        how = draw(st.sampled_from(["flip", "insert", "delete", "control"]))
        if how == "flip":
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif how == "delete":
            del raw[at : at + draw(st.integers(1, 20))]
        else:
            raw[at:at] = draw(st.sampled_from(CONTROL)).encode("utf-8")
    return bytes(raw)


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    """Deep structures and aliases, spliced into a sample campaign."""
    text = draw(st.sampled_from(TEXTS))
    depth = draw(st.integers(1, 800))
    kind = draw(st.sampled_from(["flow", "block", "aliases", "loop", "merge"]))
    if kind == "flow":
        opener = draw(st.sampled_from(["[", "{a: ", "[{a: "]))
        value = opener * depth
    elif kind == "block":
        value = "".join(f"\n{'  ' * (n + 1)}k{n}:" for n in range(min(depth, 200))) + " x"
    elif kind == "aliases":
        width = draw(st.integers(1, 12))
        levels = draw(st.integers(1, 10))
        lines = ["x0: &x0 [a]"] + [f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}"] * width) + "]" for n in range(1, levels + 1)]
        return (text + "\n".join(lines) + f"\nvars: *x{levels}\n").encode("utf-8")
    elif kind == "loop":
        value = "&loop [a, *loop]" if depth % 2 else "&loop {a: *loop}"
    else:
        value = "{<<: *nowhere}" if depth % 2 else "&m {a: 1}\nother: {<<: *m, <<: *m}"
    key = draw(st.sampled_from(["title", "summary", "priority_areas", "vars", "messages", "period"]))
    lines = [line for line in text.splitlines() if not line.startswith(f"{key}:")]
    return ("\n".join(lines) + f"\n{key}: {value}\n").encode("utf-8")


CAMPAIGNS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8")),
    mutated(),
    odd_scalar(),
    odd_field(),
    hostile(),
)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plan's config.yaml and content/, and one campaign file to write into."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    shutil.copytree(REPO / "content", root / "content")
    (root / "campaigns").mkdir()
    return root


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=CAMPAIGNS)
def test_validate_gives_only_positioned_problems_whatever_the_file_holds(plan: Path, raw: bytes) -> None:
    (plan / "campaigns" / NAME).write_bytes(raw)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # (Linux gives KB)
    started = time.monotonic()
    try:
        report = validate(plan)
    finally:
        gc.unfreeze()  # (each load freezes the plan it made: not kept across examples here)
    assert time.monotonic() - started < SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak < GROWTH
    for problem in report.problems:
        assert problem.file in (f"campaigns/{NAME}", "config.yaml") or problem.file.startswith(("content/", "samverkan/"))
        assert isinstance(problem.line, int) and problem.line >= 1
        assert isinstance(problem.col, int) and problem.col >= 1
        assert problem.message and "Traceback" not in problem.message
