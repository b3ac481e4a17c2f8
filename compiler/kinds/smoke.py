"""Kind `smoke`: smoke_0 -> smoke_1 -> ... (each adds to its upstream's result)."""

from __future__ import annotations

from compiler.nodes import StageNode, ref
from specs.kinds.smoke import SmokeExperiment
from specs.tasks.generic import SmokeTask


def stages(exp: SmokeExperiment) -> list[StageNode]:
    s = exp.smoke
    return [StageNode(f"smoke_{k}", "smoke", SmokeTask(
        steps=s.steps, checkpoint_every=s.checkpoint_every, step_seconds=s.step_seconds, value=s.value,
        fail=s.fail_stage == k, upstream=ref(f"smoke_{k - 1}", "metrics") if k else None),
        role="smoke", coordinates={"iteration": k}) for k in range(s.chain)]
