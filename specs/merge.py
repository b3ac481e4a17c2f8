"""The one recursive merge of mappings, used for `extends`, stage overrides and the
DeepSpeed passthrough."""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: dict[str, Any], over: dict[str, Any], null_removes: bool = False) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, anything else replaces.

    With `null_removes` (a spec's `extends`, as in a JSON merge patch, RFC 7386) a null
    value removes the key, so the field goes back to its default.
    """
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value is None and null_removes:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value, null_removes)
        else:
            out[key] = copy.deepcopy(value)
    return out
