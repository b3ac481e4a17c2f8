"""Batch sizes: the global batch must split into micro batches on every process, and a
GRPO batch into whole groups of answers."""

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


@rule
def grpo_groups_fill_the_batch(exp: ExperimentBase) -> Iterator[Finding]:
    """TRL's GRPOTrainer generates one global batch of answers per step and compares each
    answer with its own group's, so the batch must hold whole groups."""
    settings = exp.grpo_settings()
    if settings is None:
        return
    tr = exp.stage_training("grpo")
    group = settings.group_size
    if tr.global_batch_size % group:
        lo = max(group, tr.global_batch_size // group * group)
        yield (
            stage_field(exp, "grpo", "training", "global_batch_size"),
            f"stage 'grpo': global_batch_size {tr.global_batch_size} is not a multiple of the group size "
            f"{group} (answers per prompt): use e.g. {lo} or {lo + group}, or change the group size",
        )
