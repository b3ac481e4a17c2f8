"""Reading the JSON files runs leave behind (metrics.json, run.json, ...) for display.

A run dir is written by code that may be older, newer or broken, and by hand: whatever
the file holds, the watching commands show what they can and never fail on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_object(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when it is missing, unreadable, not JSON, or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def numbers(data: dict[str, Any] | None) -> dict[str, float]:
    """The numeric values of a JSON object (booleans are not numbers; integers too large for
    a float are left out)."""
    out: dict[str, float] = {}
    for key, value in (data or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                out[str(key)] = float(value)
            except OverflowError:
                continue
    return out
