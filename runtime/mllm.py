"""Task `mllm`: one of LLaVA-1.5's two training stages for a model over one encoder variant.

`phase: pretrain` builds the model (encoder, a new projector, the LM from `radio.mllm.llm`)
and trains the projector alone on captions; `phase: finetune` starts from the pretrain
run's model and trains projector + LM (full, or LoRA with peft) on question/answer data.
Rows: {"image", "caption"} or {"image", "question", "answer"}, image paths relative to the
JSONL file. The HF Trainer runs it (DeepSpeed from the run's config, resume from the
newest checkpoint, a requeue on SLURM's signal), like the sft and dpo tasks.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from runtime import data, training
from runtime.errors import TaskInputError
from runtime.preemption import EXIT_REQUEUE

CAPTION_PROMPT = "Describe the image."


def examples(path: str, phase: str) -> list[dict[str, str]]:
    from runtime.radio.images import image_rows

    rows = image_rows(path, f"radio.mllm.{phase}_data")
    need = ("caption",) if phase == "pretrain" else ("question", "answer")
    missing = [k for k in need if k not in rows[0]]
    if missing:
        raise TaskInputError(f"{path}: rows need {', '.join(need)} for the {phase} stage (missing: "
                             f"{', '.join(missing)})")
    if phase == "pretrain":
        return [{"image": r["image"], "prompt": CAPTION_PROMPT, "answer": str(r["caption"])} for r in rows]
    return [{"image": r["image"], "prompt": str(r["question"]), "answer": str(r["answer"])} for r in rows]


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    from runtime.generate import render_prompt

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


def build(tc: dict[str, Any], base: str, peft: dict[str, Any] | None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runtime.radio import mllm_model

    if tc["phase"] == "pretrain":
        llm = data.resolve_model(tc["mllm"]["llm"], base, "radio.mllm.llm")
        tokenizer = AutoTokenizer.from_pretrained(llm)
        lm = AutoModelForCausalLM.from_pretrained(llm, **training.model_kwargs(tc.get("model") or {}))
        model = mllm_model.MLLM(mllm_model.Encoder(tc["encoder"], base), lm, tc["mllm"]["projector"])
        model.lm.requires_grad_(False)  # LLaVA stage 1: the projector alone
    else:
        model, tokenizer = mllm_model.load(Path(data.resolve_model(str(tc["init"]), base, "init")), base)
        model.train()
        if peft:
            from peft import get_peft_model

            from runtime.sft import lora_config

            model.lm = get_peft_model(model.lm, lora_config(peft))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def run(config: dict[str, Any]) -> int:
    training.prepare_environment(config)
    from transformers import Trainer, TrainingArguments

    from runtime.radio import mllm_model

    tc = config["task_config"]
    base = config["base_dir"]
    phase = tc["phase"]
    peft = config.get("peft") if phase == "finetune" else None
    zero = json.loads(Path(config["deepspeed_config"]).read_text())["zero_optimization"]["stage"] \
        if config.get("deepspeed_config") else 0
    if peft and zero == 3:
        raise TaskInputError("radio.mllm with LoRA needs ZeRO 0-2 (the adapters are merged after training): set "
                             "stages.mllm.deepspeed.zero_stage to 2 or disable peft")
    rows = examples(str(data.resolve(tc["data"], base)), phase)
    random.Random(config["seed"]).shuffle(rows)
    model, tokenizer = build(tc, base, peft)
    args = TrainingArguments(**training.arguments(config, {"remove_unused_columns": False,
                                                           "label_names": ["labels"]}))
    stop = training.preemption_callback()
    trainer = Trainer(model=model, args=args, train_dataset=rows,  # type: ignore[arg-type]
                      data_collator=Collator(tokenizer, model.encoder.size), callbacks=[stop])
    trained = training.train(trainer, stop, "mllm")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    state = trainer.accelerator.get_state_dict(trainer.model)  # gathered under ZeRO-3 (collective)
    try:
        if trainer.is_world_process_zero():
            unwrapped = trainer.accelerator.unwrap_model(trainer.model)
            if peft:
                unwrapped.lm = unwrapped.lm.merge_and_unload()
                state = unwrapped.state_dict()
            mllm_model.save(unwrapped, state, tokenizer, Path(config["outputs"]["model"]))
            training.record(trainer, config, {
                "primary_metric": "train_loss", "phase": phase, "resumed_from": resume,
                **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}})
    finally:
        training.leave()
    return 0
