"""The JSON Schema editors check the files with: a local time such as ``2018-08-13 07:30``
is valid there, as it is to samverkan."""

from __future__ import annotations

import re
from typing import Any, Iterator

from samverkan import yamlpos
from samverkan.schemas import schemas
from tests.helpers.plans import REPO


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def time_schema(schema: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    prop = schema["$defs"][model]["properties"][field]
    return next(s for s in prop.get("anyOf", [prop]) if s.get("type") == "string")


def test_no_local_time_is_checked_as_rfc_3339() -> None:
    # yaml-language-server checks format: date-time as RFC 3339 (a "T" and a UTC offset).
    for name, schema in schemas().items():
        assert [s for s in walk(schema) if s.get("format") == "date-time"] == [], name


def test_local_times_in_the_schema_accept_what_the_files_hold() -> None:
    campaign = schemas()["campaign.schema.json"]
    fields = [("Message", "at"), ("Message", "embargo"), ("Event", "start"), ("Event", "end")]
    patterns = {time_schema(campaign, model, field)["pattern"] for model, field in fields}
    assert len(patterns) == 1
    pattern = re.compile(patterns.pop())
    for good in ("2018-08-13 07:30", "2018-08-13T07:30", "2018-08-13 07:30:00"):
        assert pattern.search(good), good
    for bad in ("2018-08-13", "2018-08-13 07:30+02:00", "13/8 07:30", "2018-08-13 7.30"):
        assert not pattern.search(bad), bad

    seen = 0
    for path in sorted((REPO / "campaigns").glob("*.yaml")):
        data = yamlpos.load(path.read_text(encoding="utf-8")).data
        times = [m[k] for m in data.get("messages", []) for k in ("at", "embargo") if k in m]
        times += [e[k] for e in data.get("events", []) for k in ("start", "end") if k in e]
        for value in times:
            assert isinstance(value, str) and pattern.search(value), f"{path.name}: {value!r}"
        seen += len(times)
    assert seen > 50
