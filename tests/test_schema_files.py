from __future__ import annotations

import json

from samverkan.schemas import schemas
from tests.helpers.plans import REPO


def test_committed_schemas_are_current() -> None:
    """The sample files point editors at schema/*.json: they must match the models."""
    for name, schema in schemas().items():
        assert json.loads((REPO / "schema" / name).read_text(encoding="utf-8")) == schema, (
            f"schema/{name} is stale: run samverkan schema --out schema"
        )


def test_sample_files_name_their_schema() -> None:
    assert (REPO / "config.yaml").read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=schema/config.schema.json")
    for path in (REPO / "campaigns").glob("*.yaml"):
        assert path.read_text(encoding="utf-8").startswith(
            "# yaml-language-server: $schema=../schema/campaign.schema.json"
        ), path.name
