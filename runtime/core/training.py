"""What every trainer task shares (sft, dpo, distill, mllm): TrainingArguments from the
spec's training section, LoRA, train-or-requeue, checkpoints and resume, saving the
final model and recording its summary. The environment the trainers read is set up by
`runtime.core.environment.prepare_training`.

Known on these versions (transformers 5.24, trl 1.16): `bf16=False` is explicit for fp32
(use_cpu would turn bf16 on quietly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.core import loaded, results
from runtime.core.environment import device
from runtime.core.errors import TaskInputError
from specs.sections import PeftSpec
from specs.tasks import RunConfig

__all__ = ["arguments", "device", "finish", "last_checkpoint", "lora_config", "preemption_callback", "record",
           "summary_of", "train", "zero_stage"]

OPTIMIZERS = {"adamw": "adamw_torch", "adam": "adamw_torch", "sgd": "sgd", "rmsprop": "rmsprop",
              "adafactor": "adafactor", "lion": "lion_32bit"}


def arguments(run: RunConfig, extra: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a TRL/transformers config (SFTConfig, DPOConfig, TrainingArguments)
    from the run's training section."""
    import torch

    tr = run.training
    if tr is None:
        raise TaskInputError(f"{run.task}: this run has no training section (compile it again)")
    accumulation = tr.global_batch_size // (tr.micro_batch_size * run.world_size)
    kwargs: dict[str, Any] = {
        "output_dir": run.paths["checkpoints"],
        "seed": run.seed,
        "learning_rate": tr.lr,
        "weight_decay": tr.weight_decay,
        "adam_beta1": tr.betas[0],
        "adam_beta2": tr.betas[1],
        "optim": OPTIMIZERS[tr.optimizer],
        "lr_scheduler_type": tr.schedule,
        "warmup_steps": tr.warmup_ratio or tr.warmup_steps,  # transformers 5: a float below 1 is a ratio
        "num_train_epochs": tr.epochs,
        "max_steps": tr.max_steps or -1,
        "per_device_train_batch_size": tr.micro_batch_size,
        "gradient_accumulation_steps": accumulation,
        "max_grad_norm": tr.max_grad_norm,
        "gradient_checkpointing": tr.gradient_checkpointing,
        "bf16": tr.precision == "bf16",
        "fp16": tr.precision == "fp16",
        "use_cpu": not torch.cuda.is_available(),
        "logging_steps": tr.logging_steps,
        "report_to": ["tensorboard"] if run.tensorboard.enabled else [],
        "save_strategy": "steps" if tr.save_steps else "epoch",
        "save_steps": tr.save_steps or 500,
        "save_total_limit": 2,
        "deepspeed": run.deepspeed_config,
        "accelerator_config": {"use_configured_state": True},
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    kwargs.update(extra)
    return kwargs


def zero_stage(run: RunConfig) -> int:
    """The ZeRO stage of the run's DeepSpeed config (0 without DeepSpeed)."""
    if not run.deepspeed_config:
        return 0
    import json

    stage: int = json.loads(Path(run.deepspeed_config).read_text())["zero_optimization"]["stage"]
    return stage


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


def finish(trainer: Any, tokenizer: Any, run: RunConfig, summary: dict[str, Any] | None,
           primary: str = "train_loss") -> None:
    """Save the final model (a LoRA run: merged into its base, so later stages load a
    plain model), record the summary on rank 0, and leave the process group together."""
    final = run.outputs["model"]
    try:
        trainer.save_model(final)
        if trainer.is_world_process_zero():
            loaded.record("model", trainer.model)
            loaded.record("model/processor" if hasattr(tokenizer, "image_processor") else "model/tokenizer", tokenizer)
            if run.peft is not None:
                _merge_lora(final)
            tokenizer.save_pretrained(final)
            if summary is not None:
                record(trainer, run, summary, primary)
    finally:
        leave()


def record(trainer: Any, run: RunConfig, summary: dict[str, Any], primary: str = "train_loss") -> None:
    """A trained run's summary (on rank 0): metrics.json, its HParams rows, and the
    experiment's timeline when the run has a place on it. Not as points in its own tb/: its
    curves are there already, and single points would sort among them."""
    if Path(run.outputs.get("model", "")).is_dir():  # where its evaluations go on a step axis
        results.mark_trained(run.outputs["model"], trainer.state.global_step)
    results.finish(run, summary, primary, tb_prefix=None, step=trainer.state.global_step)


def summary_of(result: Any, resume: str | None, **extra: Any) -> dict[str, Any]:
    """What a trained run reports: the trainer's final metrics, where it resumed from, the peak
    GPU memory of this process (to hold against the plan's estimate), and `extra`."""
    import torch

    peak = {"peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 3)} \
        if torch.cuda.is_available() else {}
    return {"resumed_from": resume, **peak, **extra,
            **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}}


def leave() -> None:
    """Barrier, then destroy the process group (a rank can abort at exit otherwise)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _merge_lora(final: str) -> None:
    from peft import AutoPeftModelForCausalLM

    merged = AutoPeftModelForCausalLM.from_pretrained(final).merge_and_unload()
    merged.save_pretrained(final)
    adapter = Path(final, "adapter_config.json")
    if adapter.exists():
        adapter.rename(Path(final, "lora_adapter_config.json"))  # the folder now holds a full model


def preemption_callback(run: RunConfig) -> Any:
    """A TrainerCallback that stops after SIGUSR2/SIGTERM, saving a checkpoint first; all
    ranks agree on the step (`runtime.core.preemption.AgreedStop`: a collective every
    `training.stop_check_steps` steps, or about every 10 s of steps when unset)."""
    from transformers import TrainerCallback

    from runtime.core.preemption import AgreedStop

    every = run.training.stop_check_steps if run.training is not None else None

    class StopOnSignal(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.stopped = False
            self.agreed = AgreedStop(every)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            self.agreed.begin(state.global_step, args.device)
            return control

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if self.agreed.should_stop(state.global_step):
                control.should_save = True
                control.should_training_stop = True
                self.stopped = True
            return control

    return StopOnSignal()


def lora_config(peft: PeftSpec | None) -> Any:
    """peft's LoraConfig for a causal LM from the spec's section; None without LoRA."""
    if peft is None or not peft.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=peft.r, lora_alpha=peft.alpha, lora_dropout=peft.dropout,
                      target_modules=peft.target_modules, modules_to_save=peft.modules_to_save or None,
                      task_type="CAUSAL_LM")
