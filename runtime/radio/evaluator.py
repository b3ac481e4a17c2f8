"""The `mllm` evaluator of the evaluate task: exact-match accuracy of a LLaVA-style model of
the radio route on held-out image questions (greedy answers, normalised), per sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.core import registry
from runtime.core.models import resolve_model
from runtime.tasks.evaluate import Sample
from specs.tasks import ModelRef, RunConfig
from specs.tasks.generic import EvaluateTask


def load_model(model: ModelRef, base_dir: str) -> tuple[Any, Any]:
    import torch

    from runtime.radio import mllm_model

    loaded, tokenizer = mllm_model.load(Path(resolve_model(model.name_or_path, base_dir)), base_dir)
    if torch.cuda.is_available():
        loaded = loaded.to("cuda")
    return loaded, tokenizer


def evaluate(run: RunConfig, tc: EvaluateTask, model: Any, tokenizer: Any,
             samples: list[Sample]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    from runtime.radio.images import load
    from runtime.radio.mllm import prompt_ids

    ev = tc.evaluation
    norm = registry.lookup(registry.NORMALIZERS, "normaliser", ev.normalizer)
    batch = ev.generation.batch_size
    device = next(model.parameters()).device
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(samples), batch):
        chunk = samples[start:start + batch]
        images = load([s.image or "" for s in chunk], model.encoder.size).to(device)
        answers = model.generate(images, [prompt_ids(tokenizer, s.prompt) for s in chunk],
                                 ev.generation.max_new_tokens, tokenizer.pad_token_id,
                                 tokenizer.eos_token_id)
        for s, ids in zip(chunk, answers, strict=True):
            text = tokenizer.decode(ids, skip_special_tokens=True).strip()
            predictions.append({"image": s.image, "question": s.prompt, "gold": s.gold, "prediction": text,
                                "exact_match": norm(text) == norm(s.gold)})
    results = {"exact_match": sum(p["exact_match"] for p in predictions) / max(len(predictions), 1)}
    by_question: dict[str, list[bool]] = {}
    for p in predictions:
        by_question.setdefault(p["question"], []).append(p["exact_match"])
    if len(by_question) <= 10:  # a few fixed questions (shape, colour, position): accuracy of each
        results.update({f"exact_match/{q}": sum(v) / len(v) for q, v in by_question.items()})
    return results, predictions
