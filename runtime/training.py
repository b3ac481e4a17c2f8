"""What every trainer task shares: DeepSpeed/accelerate setup from the run's environment,
TrainingArguments from the spec's training section, checkpoints and resume.

Known on these versions (transformers 5.24, trl 1.16, accelerate 1.15, deepspeed 0.19):
on CPU accelerate picks no backend for DeepSpeed and fills "auto" batch sizes for a
world of one, so the state is created first with gloo, `ACCELERATE_USE_DEEPSPEED` is set
and the trainer is told to use that state; `bf16=False` is explicit for fp32 (use_cpu
would turn bf16 on quietly); a single process still needs RANK/WORLD_SIZE/... set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

OPTIMIZERS = {"adamw": "adamw_torch", "adam": "adamw_torch", "sgd": "sgd", "rmsprop": "rmsprop",
              "adafactor": "adafactor", "lion": "lion_32bit"}


def prepare_environment(config: dict[str, Any]) -> None:
    """Process-group variables for a single process, DeepSpeed ops cache, offline hub."""
    for key, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"), ("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", "29500")):
        os.environ.setdefault(key, value)
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "labspec" / "torch_extensions"))
    os.environ["TENSORBOARD_LOGGING_DIR"] = config["tensorboard"]["log_dir"]  # transformers 5 reads it here
    if config.get("deepspeed_config"):
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    import torch
    from accelerate import PartialState

    PartialState(backend="nccl" if torch.cuda.is_available() else "gloo")


def device() -> str:
    """This process's accelerator: its local rank's GPU, else the CPU."""
    import torch

    return f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else "cpu"


def arguments(config: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a TRL config (SFTConfig, DPOConfig) from run.json."""
    import torch

    tr = config["training"]
    world = int(config.get("world_size", 1))
    accumulation = tr["global_batch_size"] // (tr["micro_batch_size"] * world)
    paths = config["paths"]
    kwargs: dict[str, Any] = {
        "output_dir": paths["checkpoints"],
        "seed": config["seed"],
        "learning_rate": tr["lr"],
        "weight_decay": tr["weight_decay"],
        "adam_beta1": tr["betas"][0],
        "adam_beta2": tr["betas"][1],
        "optim": OPTIMIZERS[tr["optimizer"]],
        "lr_scheduler_type": tr["schedule"],
        "warmup_steps": tr["warmup_steps"] or 0,
        "num_train_epochs": tr["epochs"],
        "max_steps": tr["max_steps"] or -1,
        "per_device_train_batch_size": tr["micro_batch_size"],
        "gradient_accumulation_steps": accumulation,
        "max_grad_norm": tr["max_grad_norm"],
        "gradient_checkpointing": tr["gradient_checkpointing"],
        "bf16": tr["precision"] == "bf16",
        "fp16": tr["precision"] == "fp16",
        "use_cpu": not torch.cuda.is_available(),
        "logging_steps": tr["logging_steps"],
        "report_to": ["tensorboard"] if config["tensorboard"]["enabled"] else [],
        "save_strategy": "steps" if tr["save_steps"] else "epoch",
        "save_steps": tr["save_steps"] or 500,
        "save_total_limit": 2,
        "deepspeed": config.get("deepspeed_config"),
        "accelerator_config": {"use_configured_state": True},
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    if tr["warmup_ratio"]:
        kwargs["warmup_steps"] = tr["warmup_ratio"]  # transformers 5: a float below 1 is a ratio
    kwargs.update(extra)
    return kwargs


def train(trainer: Any, stop: Any, task: str) -> tuple[Any, str | None] | None:
    """Train, resuming from the newest checkpoint: (result, the checkpoint resumed from), or
    None when SLURM's signal stopped it (a checkpoint was saved at that step and the process
    group is left: the task returns EXIT_REQUEUE and the requeued job resumes there)."""
    resume = last_checkpoint(str(trainer.args.output_dir))
    result = trainer.train(resume_from_checkpoint=resume)
    if stop.stopped:
        print(f"{task}: stopping at step {trainer.state.global_step} for a requeue", flush=True)
        leave()
        return None
    return result, resume


def last_checkpoint(output_dir: str) -> str | None:
    """The newest complete `checkpoint-N` to resume from (a requeued run continues there).
    transformers writes trainer_state.json last: a checkpoint without it was cut short."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    done = [p for p in root.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
            and (p / "trainer_state.json").exists()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def model_kwargs(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """from_pretrained arguments from the spec's model section."""
    import torch

    out: dict[str, Any] = {}
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(model_cfg.get("dtype") or "")
    if dtype is not None:
        out["dtype"] = dtype
    for key in ("revision", "attn_implementation"):
        if model_cfg.get(key):
            out[key] = model_cfg[key]
    if model_cfg.get("trust_remote_code"):
        out["trust_remote_code"] = True
    return out


def finish(trainer: Any, tokenizer: Any, config: dict[str, Any], summary: dict[str, Any] | None) -> None:
    """Save the final model (a LoRA run: merged into its base, so later stages load a
    plain model), write metrics on rank 0, and leave the process group together."""
    final = config["outputs"]["model"]
    try:
        trainer.save_model(final)
        if trainer.is_world_process_zero():
            if config.get("peft"):
                _merge_lora(final, config)
            tokenizer.save_pretrained(final)
            if summary is not None:
                record(trainer, config, summary)
    finally:
        leave()


def record(trainer: Any, config: dict[str, Any], summary: dict[str, Any]) -> None:
    """A trained run's summary (on rank 0): metrics.json, TensorBoard at the last step, and
    the experiment's timeline when the run has a place on it."""
    from runtime.io import atomic_write_json
    from runtime.tb import log_final, log_timeline

    atomic_write_json(Path(config["outputs"]["metrics"]), summary)
    log_final(config, {f"final/{k}": v for k, v in summary.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)}, step=trainer.state.global_step)
    log_timeline(config, summary)


def leave() -> None:
    """Barrier, then destroy the process group (a rank can abort at exit otherwise)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _merge_lora(final: str, config: dict[str, Any]) -> None:
    from peft import AutoPeftModelForCausalLM

    merged = AutoPeftModelForCausalLM.from_pretrained(final).merge_and_unload()
    merged.save_pretrained(final)
    adapter = Path(final, "adapter_config.json")
    if adapter.exists():
        adapter.rename(Path(final, "lora_adapter_config.json"))  # the folder now holds a full model


def preemption_callback() -> Any:
    """A TrainerCallback that stops at the next step after SIGUSR2/SIGTERM, saving a
    checkpoint first; all ranks agree on the step (the flag is all-reduced)."""
    import torch
    import torch.distributed as dist
    from transformers import TrainerCallback

    from runtime.preemption import StopFlag

    flag = StopFlag()

    class StopOnSignal(TrainerCallback):  # type: ignore[misc]
        stopped = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            requested = torch.tensor([1.0 if flag.requested else 0.0], device=args.device)  # NCCL: on the GPU
            if dist.is_initialized():
                dist.all_reduce(requested)
            if requested.item() > 0:
                control.should_save = True
                control.should_training_stop = True
                StopOnSignal.stopped = True
            return control

    return StopOnSignal()
