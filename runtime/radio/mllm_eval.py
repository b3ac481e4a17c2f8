"""The `mllm` evaluator of the evaluate task: exact-match accuracy of a LLaVA-style model of
the radio route on held-out image questions (greedy answers, normalised), per sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime import data
from runtime.evaluate import NORMALIZERS, Sample


def load_model(model_cfg: dict[str, Any], base_dir: str) -> tuple[Any, Any]:
    import torch

    from runtime.radio import mllm_model

    model, tokenizer = mllm_model.load(Path(data.resolve_model(str(model_cfg["name_or_path"]), base_dir)), base_dir)
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model, tokenizer


def evaluate(config: dict[str, Any], model: Any, tokenizer: Any,
             samples: list[Sample]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    from runtime.mllm import prompt_ids
    from runtime.radio.images import load

    ev = config["task_config"]["evaluation"]
    norm = NORMALIZERS[ev["normalizer"]]
    batch = int(ev["generation"].get("batch_size", 16))
    device = next(model.parameters()).device
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(samples), batch):
        chunk = samples[start:start + batch]
        images = load([s.image or "" for s in chunk], model.encoder.size).to(device)
        answers = model.generate(images, [prompt_ids(tokenizer, s.prompt) for s in chunk],
                                 int(ev["generation"].get("max_new_tokens", 16)), tokenizer.pad_token_id,
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
