"""Kind `smoke`: smoke_0 -> smoke_1 -> ... (each adds to its upstream's result)."""

from __future__ import annotations

from compiler.nodes import Ref, StageNode
from specs.kinds.smoke import SmokeExperiment


def stages(exp: SmokeExperiment) -> list[StageNode]:
    s = exp.smoke
    nodes: list[StageNode] = []
    for k in range(s.chain):
        nodes.append(StageNode(f"smoke_{k}", "smoke", "smoke", {
            "steps": s.steps,
            "checkpoint_every": s.checkpoint_every,
            "step_seconds": s.step_seconds,
            "value": s.value,
            "fail": s.fail_stage == k,
            "upstream": Ref(f"smoke_{k - 1}", "metrics") if k else None,
        }))
    return nodes
