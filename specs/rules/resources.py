"""Resources: every stage's request is complete after merging and fits its launcher."""

from __future__ import annotations

from collections.abc import Iterator

from specs.base import ExperimentBase
from specs.rules import Finding, rule, stage_field


@rule
def stage_resources_complete(exp: ExperimentBase) -> Iterator[Finding]:
    missing = [s for s in exp.stage_types if exp.stage_resources(s).time is None]
    if missing:
        yield ("resources.time",
               f"no time limit for stage(s) {', '.join(missing)}: set resources.time "
               "(e.g. 12:00:00) or stages.<stage>.resources.time")


@rule
def processes_fit(exp: ExperimentBase) -> Iterator[Finding]:
    for stage in exp.stage_types:
        res = exp.stage_resources(stage)
        launcher = exp.stage_launcher(stage)
        if res.gpus_per_node and res.procs_per_node and res.procs_per_node > res.gpus_per_node:
            yield (stage_field(exp, stage, "resources", "procs_per_node"),
                   f"stage {stage!r}: {res.procs_per_node} processes on {res.gpus_per_node} GPUs per node; "
                   "use at most one process per GPU")
        if launcher == "python" and res.world_size > 1:
            yield (stage_field(exp, stage, "launcher", "launcher"),
                   f"stage {stage!r}: the python launcher starts one process but the world size is "
                   f"{res.world_size}; use torchrun or deepspeed")
        if launcher == "deepspeed" and res.nodes > 1:
            yield (stage_field(exp, stage, "launcher", "launcher"),
                   f"stage {stage!r}: DeepSpeed's launcher needs a hostfile and ssh for {res.nodes} nodes; "
                   "use launcher: torchrun (the DeepSpeed config applies all the same)")
