"""Derive a concrete DeepSpeed config from the spec (no "auto" left for DeepSpeed to guess).

Batch sizes come from the spec and the world size; ZeRO and offload from the stage's
`deepspeed` section; precision from `training.precision`; the user's passthrough
`deepspeed.config` is deep-merged last. Optimizer and scheduler are left to the
trainer (the HF/TRL integration builds them from the training section).
"""

from __future__ import annotations

from typing import Any

from specs.errors import CompileError
from specs.merge import deep_merge
from specs.sections import DeepSpeedSpec, OffloadDevice, TrainingSpec


def derive(training: TrainingSpec, ds: DeepSpeedSpec, world_size: int) -> dict[str, Any]:
    micro, glob = training.micro_batch_size, training.global_batch_size
    if glob % (micro * world_size):
        raise CompileError(
            f"global_batch_size {glob} is not divisible by micro_batch_size {micro} x world size "
            f"{world_size}; change training.global_batch_size or the resources"
        )
    config: dict[str, Any] = {
        "train_batch_size": glob,
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": glob // (micro * world_size),
        "gradient_clipping": training.max_grad_norm,
        "steps_per_print": training.logging_steps,
        "wall_clock_breakdown": False,
        "zero_optimization": _zero(ds),
    }
    if ds.zero_stage >= 1 and ds.offload_optimizer.device != "none" and training.optimizer in ("adam", "adamw"):
        # offloaded states need DeepSpeed's CPU Adam (a torch optimizer is refused by DeepSpeed)
        config["optimizer"] = {"type": "AdamW", "params": {
            "lr": training.lr, "betas": list(training.betas), "eps": 1e-8, "weight_decay": training.weight_decay}}
    if training.precision == "bf16":
        config["bf16"] = {"enabled": True}
    elif training.precision == "fp16":
        config["fp16"] = {
            "enabled": True,
            "loss_scale": 0,
            "loss_scale_window": 1000,
            "initial_scale_power": 16,
            "hysteresis": 2,
            "min_loss_scale": 1,
        }
    return deep_merge(config, ds.config)


def _zero(ds: DeepSpeedSpec) -> dict[str, Any]:
    zero: dict[str, Any] = {"stage": ds.zero_stage}
    if ds.zero_stage >= 1:
        zero.update(
            {
                "overlap_comm": True,
                "contiguous_gradients": True,
                "reduce_bucket_size": 5e8,
            }
        )
    if ds.zero_stage == 2:
        zero.update({"allgather_partitions": True, "allgather_bucket_size": 5e8, "reduce_scatter": True})
    if ds.zero_stage == 3:
        zero.update(
            {
                "stage3_prefetch_bucket_size": 5e7,
                "stage3_param_persistence_threshold": 1e5,
                "stage3_max_live_parameters": 1e9,
                "stage3_max_reuse_distance": 1e9,
                # without this a ZeRO-3 checkpoint holds only shards, not a usable model
                "stage3_gather_16bit_weights_on_model_save": True,
            }
        )
    if ds.zero_stage >= 1 and ds.offload_optimizer.device != "none":
        zero["offload_optimizer"] = _offload(ds.offload_optimizer)
    if ds.zero_stage == 3 and ds.offload_param.device != "none":
        zero["offload_param"] = _offload(ds.offload_param)
    return zero


def _offload(off: OffloadDevice) -> dict[str, Any]:
    out: dict[str, Any] = {"device": off.device, "pin_memory": off.pin_memory}
    if off.device == "nvme":
        out["nvme_path"] = off.nvme_path
    return out
