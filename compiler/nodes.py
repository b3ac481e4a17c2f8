"""What a kind's compiler module returns: the stages of one grid point.

A kind describes its pipeline as `StageNode`s in dependency order. A node's config may
hold `Ref`s to an earlier node's outputs; the compiler turns them into paths (run dirs
are deterministic) and into `depends_on` edges. Kinds never build paths themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """An output (see `compiler.outputs.TASK_OUTPUTS`) of an earlier stage of this point."""

    stage: str
    output: str = "model"


@dataclass
class StageNode:
    name: str  # unique within a grid point, e.g. "train_t1"
    type: str  # the stage type: `stages:` overrides, and whether it trains
    task: str  # the runtime task that runs it
    config: dict[str, Any]  # task settings; may contain Refs anywhere
    training_update: dict[str, Any] = field(default_factory=dict)  # e.g. per-iteration lr
    resources_update: dict[str, Any] = field(default_factory=dict)  # e.g. GPUs by model size
    shards: int = 1  # array tasks that split this run's work
