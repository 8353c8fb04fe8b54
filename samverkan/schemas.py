"""JSON Schema of config.yaml and campaign files, for editors (yaml-language-server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import Campaign, Config


def schemas() -> dict[str, dict[str, Any]]:
    config = Config.model_json_schema(mode="validation")
    config["title"] = "samverkan config.yaml"
    campaign = Campaign.model_json_schema(mode="validation")
    campaign["title"] = "samverkan campaign file"
    for s in (config, campaign):
        s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return {"config.schema.json": config, "campaign.schema.json": campaign}


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = folder / name
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
