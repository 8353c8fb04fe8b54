"""The editors' schemas: current, fitted to the plan, described in Swedish, and strict
enough that an editor rejects a misspelled key without samverkan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml

from samverkan.schemas import LOCAL_TIME_MESSAGE, plan_config, schemas
from tests.helpers.plans import REPO


def test_committed_schemas_are_current() -> None:
    """The sample files point editors at schema/*.json: they must match the models and config."""
    for name, schema in schemas(plan_config(REPO)).items():
        assert json.loads((REPO / "schema" / name).read_text(encoding="utf-8")) == schema, (
            f"schema/{name} is stale: run make schema"
        )


def test_sample_files_name_their_schema() -> None:
    assert (REPO / "config.yaml").read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=schema/config.schema.json")
    for path in (REPO / "campaigns").glob("*.yaml"):
        assert path.read_text(encoding="utf-8").startswith(
            "# yaml-language-server: $schema=../schema/campaign.schema.json"
        ), path.name


class _EditorLoader(yaml.SafeLoader):
    """YAML as an editor's schema check sees it: dates and times stay text."""


_EditorLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def editor_view(text: str) -> Any:
    return yaml.load(text, Loader=_EditorLoader)  # noqa: S506 (a SafeLoader)


def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((REPO / "schema" / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_the_sample_plan_passes_its_schemas() -> None:
    config = validator("config.schema.json")
    assert list(config.iter_errors(editor_view((REPO / "config.yaml").read_text(encoding="utf-8")))) == []
    campaign = validator("campaign.schema.json")
    for path in sorted((REPO / "campaigns").glob("*.yaml")):
        errors = [e.message for e in campaign.iter_errors(editor_view(path.read_text(encoding="utf-8")))]
        assert errors == [], path.name


@pytest.mark.parametrize(("old", "new", "wrong"), [
    ("channels: [webb, facebook-kommunen, facebook-polisen, press]",
     "channels: [webb, facebok-kommunen, facebook-polisen, press]", "'facebok-kommunen' is not one of"),
    ("priority_areas: [trafik]", "priority_areas: [trafk]", "'trafk' is not one of"),
    ("at: 2018-08-13 07:30", "at: 2018-08-13 7.30", "does not match"),
])
def test_a_misspelling_is_rejected_by_the_schema_alone(old: str, new: str, wrong: str) -> None:
    text = (REPO / "campaigns" / "2018-saker-skolstart.yaml").read_text(encoding="utf-8")
    assert old in text
    errors = list(validator("campaign.schema.json").iter_errors(editor_view(text.replace(old, new, 1))))
    assert len(errors) == 1
    best = jsonschema.exceptions.best_match(errors)  # what an editor shows of an anyOf
    assert wrong in best.message, best.message


def test_a_channel_with_a_misspelled_setting_is_rejected_by_the_schema_alone() -> None:
    text = (REPO / "config.yaml").read_text(encoding="utf-8").replace("    page_id:", "    pageid:", 1)
    errors = [e.message for e in validator("config.schema.json").iter_errors(editor_view(text))]
    assert any("'pageid' was unexpected" in m for m in errors), errors


def properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named property anywhere in a schema, with where it is."""
    if isinstance(node, dict):
        for key, prop in node.get("properties", {}).items():
            yield f"{path}.{key}", prop
        for key, value in node.items():
            if key != "if":  # a condition's properties are the ones it tests, described where they are
                yield from properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from properties(value, f"{path}[{i}]")


@pytest.mark.parametrize("name", ["config.schema.json", "campaign.schema.json"])
def test_every_key_has_a_swedish_description_and_every_pattern_an_explanation(name: str) -> None:
    schema = schemas(plan_config(REPO))[name]
    undescribed = [where for where, prop in properties(schema) if not prop.get("description")]
    assert undescribed == []
    text = json.dumps(schema, ensure_ascii=False)
    assert text.count('"pattern"') == text.count('"patternErrorMessage"') > (0 if name.startswith("campaign") else -1)
    assert LOCAL_TIME_MESSAGE in text or name.startswith("config")


def test_without_a_config_the_schemas_still_come(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from samverkan.cli import cli

    result = CliRunner().invoke(cli, ["schema", "--root", str(tmp_path), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "not fitted" in result.output
    campaign = json.loads((tmp_path / "s" / "campaign.schema.json").read_text(encoding="utf-8"))
    assert "enum" not in campaign["properties"]["priority_areas"]["items"]
