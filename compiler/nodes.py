"""What a kind's compiler module returns: the stages of one grid point.

A kind describes its pipeline as `StageNode`s in dependency order, each with the typed
config of its runtime task (`specs.tasks`). A field may name an earlier node's output
with `ref(stage, output)`: the compiler turns that into the upstream run's path (run dirs
are deterministic) and into a `depends_on` edge, and hashes it as the upstream run's id.
Kinds never build paths themselves.

A ref is a string no spec can hold (spec strings never contain NUL), so the typed
configs keep their plain `str` fields while the plan is being built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from specs.tasks import TaskConfig

_REF = re.compile(r"\x00ref:([^\x00]+)\x00([^\x00]+)\x00")


def ref(stage: str, output: str = "model") -> str:
    """An output (`TaskConfig.all_outputs()` of its task) of an earlier stage of this point."""
    return f"\x00ref:{stage}\x00{output}\x00"


def parse_ref(value: str) -> tuple[str, str] | None:
    """(stage, output) when `value` is a ref, else None."""
    found = _REF.fullmatch(value)
    return (found.group(1), found.group(2)) if found else None


@dataclass
class StageNode:
    name: str  # unique within a grid point, e.g. "train_t1"
    type: str  # the stage type: `stages:` overrides, and whether it trains
    config: TaskConfig  # the runtime task's config; may hold refs
    role: str  # what it does in its route (Coordinates.role)
    coordinates: dict[str, Any] = field(default_factory=dict)  # iteration, variant, model, ... (Coordinates)
    training_update: dict[str, Any] = field(default_factory=dict)  # e.g. per-iteration lr
    resources_update: dict[str, Any] = field(default_factory=dict)  # e.g. GPUs by model size
    shards: int = 1  # array tasks that split this run's work
    launcher: str | None = None  # instead of the stage type's (the rehearsal's own run: python)

    @property
    def task(self) -> str:
        return self.config.task
