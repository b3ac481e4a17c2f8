"""Run ids: a short hash of a run's canonical resolved config.

Canonical = JSON with sorted keys, no whitespace, ASCII only; floats use Python's
shortest round-trip repr, the same on every platform and Python 3 version. So the same
spec compiles to the same ids anywhere. What can change a run's result goes in (its
task config, training, DeepSpeed config, world size, seed, environment variables) and
the experiment's name (its runs live in its own directory);
cosmetic fields (description, output_root, the interpreter path, partition, time) do not.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

ID_LENGTH = 10  # 40 bits: collisions stay negligible for grids of many thousand runs


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_default)


def run_id(identity: Any) -> str:
    return hashlib.sha256(canonical(identity).encode("ascii")).hexdigest()[:ID_LENGTH]


def _default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set, frozenset)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    raise TypeError(f"cannot hash a {type(obj).__name__} into a run id")
