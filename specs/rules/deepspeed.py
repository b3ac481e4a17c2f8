"""DeepSpeed: offload needs the right ZeRO stage; derived keys are not set by hand."""

from __future__ import annotations

from collections.abc import Iterator

from specs.base import ExperimentBase
from specs.rules import Finding, rule, stage_field

# keys the compiler derives; setting them in the passthrough would contradict the spec
DERIVED = {
    "train_batch_size": "training.global_batch_size",
    "train_micro_batch_size_per_gpu": "training.micro_batch_size",
    "gradient_accumulation_steps": "training.global_batch_size and training.micro_batch_size",
    "bf16": "training.precision",
    "fp16": "training.precision",
}


@rule
def offload_matches_stage(exp: ExperimentBase) -> Iterator[Finding]:
    for stage, trains in exp.stage_types.items():
        if not trains:
            continue
        ds = exp.stage_deepspeed(stage)

        def where(field: str) -> str:
            return stage_field(exp, stage, "deepspeed", field)  # noqa: B023

        if not ds.enabled:
            if exp.stage_launcher(stage) == "deepspeed":
                yield where("enabled"), f"stage {stage!r} uses the deepspeed launcher: enable deepspeed"
            continue
        if ds.offload_param.device != "none" and ds.zero_stage != 3:
            yield (f"{where('offload_param')}.device",
                   f"stage {stage!r}: parameter offload needs zero_stage: 3 (it is {ds.zero_stage})")
        if ds.offload_optimizer.device == "cpu" and ds.zero_stage == 0:
            yield (f"{where('offload_optimizer')}.device",
                   f"stage {stage!r}: optimizer offload needs zero_stage 1, 2 or 3")
        if ds.offload_optimizer.device == "nvme" and ds.zero_stage != 3:
            yield (f"{where('offload_optimizer')}.device",
                   f"stage {stage!r}: NVMe optimizer offload needs zero_stage: 3 (ZeRO-Infinity); "
                   "at stages 1-2 DeepSpeed would silently use the CPU")
        for name, off in (("offload_param", ds.offload_param), ("offload_optimizer", ds.offload_optimizer)):
            if off.device == "nvme" and not off.nvme_path:
                yield f"{where(name)}.nvme_path", "NVMe offload needs nvme_path (a fast local disk)"
        for key, instead in DERIVED.items():
            if key in ds.config:
                yield f"{where('config')}.{key}", f"derived by labspec; set {instead} instead"
        zero = ds.config.get("zero_optimization")
        if isinstance(zero, dict) and "stage" in zero:
            yield f"{where('config')}.zero_optimization.stage", "set deepspeed.zero_stage instead"
