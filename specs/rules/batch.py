"""Batch sizes: the global batch must split into micro batches on every process."""

from __future__ import annotations

from collections.abc import Iterator

from specs.base import ExperimentBase
from specs.rules import Finding, rule, stage_field


@rule
def global_batch_divides(exp: ExperimentBase) -> Iterator[Finding]:
    for stage, trains in exp.stage_types.items():
        if not trains:
            continue
        tr = exp.stage_training(stage)
        world = exp.stage_resources(stage).world_size
        step = tr.micro_batch_size * world
        if tr.global_batch_size % step:
            lo = max(step, tr.global_batch_size // step * step)
            yield (
                stage_field(exp, stage, "training", "global_batch_size"),
                f"stage {stage!r}: global_batch_size {tr.global_batch_size} is not divisible by "
                f"micro_batch_size {tr.micro_batch_size} x world size {world} (= {step}); "
                f"use a multiple of {step}, e.g. {lo} or {lo + step}",
            )


@rule
def warmup_given_once(exp: ExperimentBase) -> Iterator[Finding]:
    for stage, trains in exp.stage_types.items():
        tr = exp.stage_training(stage)
        if trains and tr.warmup_ratio and tr.warmup_steps:
            yield (
                stage_field(exp, stage, "training", "warmup_steps"),
                f"stage {stage!r}: set warmup_ratio or warmup_steps, not both",
            )
