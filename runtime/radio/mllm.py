"""Task `mllm`: one of LLaVA-1.5's two training stages for a model over one encoder variant.

`phase: pretrain` builds the model (encoder, a new projector, the LM from `radio.mllm.llm`)
and trains the projector alone on captions; `phase: finetune` starts from the pretrain
run's model and trains projector + LM (full, or LoRA with peft) on question/answer data.
Rows: {"image", "caption"} or {"image", "question", "answer"}, image paths relative to the
JSONL file. The HF Trainer runs it (DeepSpeed from the run's config, resume from the
newest checkpoint, a requeue on SLURM's signal), like the sft and dpo tasks.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from runtime.core import data, environment, loaded, training
from runtime.core.errors import TaskInputError
from runtime.core.models import model_kwargs, resolve_model
from runtime.core.preemption import EXIT_REQUEUE
from specs.sections import PeftSpec
from specs.tasks import RunConfig
from specs.tasks.radio import MLLMTask

CAPTION_PROMPT = "Describe the image."


def examples(path: str, phase: str) -> list[dict[str, str]]:
    from runtime.radio.images import image_rows

    rows = image_rows(path, f"radio.mllm.{phase}_data")
    need = ["caption"] if phase == "pretrain" else ["question", "answer"]
    missing = [k for k in need if all(k not in r for r in rows)]
    if missing:
        raise TaskInputError(f"{path}: rows need {', '.join(need)} for the {phase} stage (missing: "
                             f"{', '.join(missing)})")
    rows = data.filled(rows, need, path)  # a null caption must not be learnt as the text "None"
    if phase == "pretrain":
        return [{"image": r["image"], "prompt": CAPTION_PROMPT, "answer": str(r["caption"])} for r in rows]
    return [{"image": r["image"], "prompt": str(r["question"]), "answer": str(r["answer"])} for r in rows]


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    from runtime.core.models import render_prompt

    ids: list[int] = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    return ids


class Collator:
    """Images to [B,3,S,S] in [0,1]; prompt + answer + eos on the right, loss on the answer."""

    def __init__(self, tokenizer: Any, size: int) -> None:
        self.tokenizer, self.size = tokenizer, size

    def __call__(self, batch: list[dict[str, str]]) -> dict[str, Any]:
        import torch

        from runtime.radio.images import load

        tok = self.tokenizer
        seqs, labels = [], []
        for row in batch:
            p = prompt_ids(tok, row["prompt"])
            a = tok(row["answer"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            seqs.append(p + a)
            labels.append([-100] * len(p) + a)
        longest = max(len(s) for s in seqs)
        pad = tok.pad_token_id
        return {"pixel_values": load([row["image"] for row in batch], self.size),
                "input_ids": torch.tensor([s + [pad] * (longest - len(s)) for s in seqs]),
                "attention_mask": torch.tensor([[1] * len(s) + [0] * (longest - len(s)) for s in seqs]),
                "labels": torch.tensor([lab + [-100] * (longest - len(lab)) for lab in labels])}


def build(tc: MLLMTask, base: str, peft: PeftSpec | None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runtime.radio import mllm_model

    if tc.phase == "pretrain":
        llm = resolve_model(tc.llm.name_or_path, base, "radio.mllm.llm")
        tokenizer = AutoTokenizer.from_pretrained(llm)
        lm = AutoModelForCausalLM.from_pretrained(llm, **model_kwargs(tc.llm))
        model = mllm_model.MLLM(mllm_model.Encoder(tc.encoder, base), lm, tc.mllm.projector)
        model.lm.requires_grad_(False)  # LLaVA stage 1: the projector alone
    else:
        model, tokenizer = mllm_model.load(Path(resolve_model(str(tc.init), base, "init")), base)
        model.train()
        if peft is not None:
            from peft import get_peft_model

            model.lm = get_peft_model(model.lm, training.lora_config(peft))
    loaded.record("llm", model.lm)
    loaded.record("llm/tokenizer", tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _untying(trainer: Any) -> Any:
    """The Trainer, saving checkpoints of a tied LM. The MLLM is not a PreTrainedModel, so the
    Trainer writes its state dict with safetensors itself, which refuses tensors sharing
    storage: an LM with tied embeddings (Qwen2.5 up to 3B) failed at its first checkpoint.
    Each tensor that shares storage with an earlier one is saved as a copy (loading ties
    them again: both names load into the one parameter)."""

    class UntyingTrainer(trainer):  # type: ignore[misc,valid-type]
        def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
            state = state_dict if state_dict is not None else self.model.state_dict()
            seen: set[int] = set()
            untied = {}
            for key, tensor in state.items():
                pointer = tensor.untyped_storage().data_ptr()
                untied[key] = tensor.detach().clone() if pointer in seen and tensor.numel() else tensor
                seen.add(pointer)
            super()._save(output_dir, untied)

    return UntyingTrainer


def run(run: RunConfig, tc: MLLMTask) -> int:
    environment.prepare_training(run)
    from transformers import Trainer, TrainingArguments

    from runtime.radio import mllm_model

    peft = run.peft if tc.phase == "finetune" else None
    if peft is not None and training.zero_stage(run) == 3:
        raise TaskInputError("radio.mllm with LoRA needs ZeRO 0-2 (the adapters are merged after training): set "
                             "stages.mllm.deepspeed.zero_stage to 2 or disable peft")
    rows = examples(str(data.resolve(tc.data, run.base_dir)), tc.phase)
    random.Random(run.seed).shuffle(rows)
    model, tokenizer = build(tc, run.base_dir, peft)
    args = TrainingArguments(**training.arguments(run, {"remove_unused_columns": False, "label_names": ["labels"]}))
    stop = training.preemption_callback(run)
    trainer = _untying(Trainer)(model=model, args=args, train_dataset=rows,  # type: ignore[arg-type]
                                data_collator=Collator(tokenizer, model.encoder.size), callbacks=[stop])
    trained = training.train(trainer, stop, "mllm")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    # gathered under ZeRO-3 (collective); accelerate wants the DeepSpeed engine, not the module
    state = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    try:
        if trainer.is_world_process_zero():
            unwrapped = trainer.accelerator.unwrap_model(trainer.model)
            if peft is not None:
                unwrapped.lm = unwrapped.lm.merge_and_unload()
                state = unwrapped.state_dict()
            mllm_model.save(unwrapped, state, tokenizer, Path(run.outputs["model"]))
            training.record(trainer, run, training.summary_of(result, resume, phase=tc.phase))
    finally:
        training.leave()
    return 0
