"""The JSON Schema of the spec language, dumped from the same pydantic models.

Example specs point editors at it with a ``# yaml-language-server: $schema=...`` line.
Specs that `extends` a base only hold part of an experiment, so a *partial* schema is
offered for them: nothing is required, and any field may be null (which removes the
base's value, as in a JSON merge patch).
"""

from __future__ import annotations

import json
from typing import Any

from specs.registry import experiment_adapter


def json_schema(partial: bool = False) -> dict[str, Any]:
    schema = experiment_adapter().json_schema()
    schema["title"] = "labspec experiment" + (" (partial, for specs that extend another)" if partial else "")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    if partial:
        _partial(schema)
    return schema


def _partial(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for value in node.values():
            _partial(value)
        props = node.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                props[key] = {"anyOf": [sub, {"type": "null"}]}
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            node["additionalProperties"] = {"anyOf": [extra, {"type": "null"}]}
    elif isinstance(node, list):
        for value in node:
            _partial(value)


def render(partial: bool = False) -> str:
    return json.dumps(json_schema(partial), indent=2, sort_keys=True) + "\n"
