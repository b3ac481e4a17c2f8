"""Task `evaluate`: a model on a held-out file, through an evaluator chosen by name.

The `default` evaluator computes generation metrics (exact match after a normaliser,
accuracy of an extracted answer) and likelihood metrics (perplexity of the reference
answer). Routes register their own evaluators (`runtime.core.registry.EVALUATORS`:
formula metrics, the MLLM's answers, chain-of-thought accuracy), each a function
`(run, task config, model, processing, samples) -> (metrics, predictions)`, with a
`load_model` of its own in its module when transformers' loader does not fit. Per-sample
predictions go to `outputs/predictions.jsonl`, metrics to `outputs/metrics.json` and
TensorBoard.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.core import data, registry, results
from runtime.core.io import write_jsonl
from runtime.core.models import load_model, render_prompt
from runtime.core.sampling import generate_batched, load_for_generation, release
from specs.tasks import RunConfig
from specs.tasks.generic import EvaluateTask

Evaluator = Callable[..., tuple[dict[str, float], list[dict[str, Any]]]]


@dataclass(frozen=True)
class Sample:
    """One held-out item: the prompt, the reference answer, the image path for a
    vision-language model, and the row's other fields (e.g. a test subset)."""

    prompt: str
    gold: str
    image: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def perplexity(model: Any, tokenizer: Any, prompts: list[str], answers: list[str]) -> float:
    """exp(mean negative log-likelihood of the answer tokens given the prompt); a vLLM
    engine reads it from its prompt log-probabilities."""
    if getattr(model, "is_vllm_engine", False):
        nll, count = model.nll(prompts, answers)
        return math.exp(nll / count) if count else float("nan")
    import torch

    total, tokens = 0.0, 0
    for prompt, answer in zip(prompts, answers, strict=True):
        context = render_prompt(tokenizer, prompt)
        ids_ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
        ids_ans = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if not ids_ans:
            continue
        ids = torch.tensor([ids_ctx + ids_ans], device=model.device)
        labels = ids.clone()
        labels[0, :len(ids_ctx)] = -100
        with torch.no_grad():
            loss = model(input_ids=ids, labels=labels).loss
        total += float(loss) * len(ids_ans)
        tokens += len(ids_ans)
    return math.exp(total / tokens) if tokens else float("nan")


def default_evaluator(run: RunConfig, tc: EvaluateTask, model: Any, tokenizer: Any,
                      samples: list[Sample]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    ev = tc.evaluation
    wanted = set(ev.metrics)
    prompts = [s.prompt for s in samples]
    golds = [s.gold for s in samples]
    images = [s.image or "" for s in samples] if samples and samples[0].image else None
    out: dict[str, float] = {}
    predictions: list[dict[str, Any]] = [{"prompt": s.prompt, "gold": s.gold, **({"image": s.image} if s.image else {})}
                                         for s in samples]
    if wanted & {"exact_match", "accuracy"}:
        outputs = generate_batched(model, tokenizer, prompts, ev.generation, images=images)
        norm = registry.lookup(registry.NORMALIZERS, "normaliser", ev.normalizer)
        extract = registry.lookup(registry.EXTRACTORS, "answer extractor", ev.answer_extractor)
        hits_em, hits_acc = 0, 0
        for pred, answers in zip(predictions, outputs, strict=True):
            text = answers[0] if answers else ""
            answer = extract(text, ev.answer_regex)
            gold_answer = extract(pred["gold"], ev.answer_regex) or pred["gold"]
            pred.update(prediction=text, extracted=answer, exact_match=norm(text) == norm(pred["gold"]),
                        correct=norm(answer) == norm(gold_answer))
            hits_em += pred["exact_match"]
            hits_acc += pred["correct"]
        if "exact_match" in wanted:
            out["exact_match"] = hits_em / max(len(samples), 1)
        if "accuracy" in wanted:
            out["accuracy"] = hits_acc / max(len(samples), 1)
    if "perplexity" in wanted and images is None:
        out["perplexity"] = perplexity(model, tokenizer, prompts, golds)
    return out, predictions


def evaluator(name: str) -> tuple[Evaluator, Callable[..., tuple[Any, Any]]]:
    """The evaluator and its model loader (its module's `load_model`, else transformers')."""
    module_name, _, function = registry.lookup(registry.EVALUATORS, "evaluator", name).partition(":")
    module = importlib.import_module(module_name)
    found: Evaluator = getattr(module, function)
    return found, getattr(module, "load_model", load_model)


def load_samples(run: RunConfig, tc: EvaluateTask) -> list[Sample]:
    """The held-out rows as Samples, every needed column checked before a model loads."""
    ds, path = data.load_ref(tc.data, run.base_dir, "evaluation data")
    cols = data.columns(tc.data, tc.vision)
    ds = data.require_columns(ds, cols.needed(), path, "data.prompt_field / data.completion_field"
                              + (" / data.image_field" if cols.image else ""))
    limit = tc.evaluation.max_samples
    samples = []
    for i in range(min(len(ds), limit) if limit else len(ds)):
        row = ds[i]
        picture = None
        if cols.image:
            picture = str(row[cols.image]) if Path(str(row[cols.image])).is_absolute() \
                else str(Path(path).parent / row[cols.image])
        prompt = str(row[cols.prompt]) if cols.prompt and row.get(cols.prompt) is not None else str(cols.fixed_prompt)
        samples.append(Sample(prompt=prompt, gold=str(row[cols.answer]), image=picture,
                              extra={k: v for k, v in row.items() if k not in (cols.prompt, cols.answer, cols.image)}))
    return samples


def run(run: RunConfig, tc: EvaluateTask) -> int:
    import torch

    torch.manual_seed(run.seed)  # sampled answers (formula mining's extra samples) repeat with the spec's seed
    evaluate, loader = evaluator(tc.evaluator)
    samples = load_samples(run, tc)
    if loader is load_model:
        model, processing = load_for_generation(tc.model, run.base_dir, tc.evaluation.generation,
                                                vision=bool(samples and samples[0].image))
    else:
        model, processing = loader(tc.model, run.base_dir)
    try:
        measured, predictions = evaluate(run, tc, model, processing, samples)
    finally:
        release(model)
    write_jsonl(Path(run.outputs["predictions"]), predictions)
    wanted = [m for m in tc.evaluation.metrics if m in measured]
    primary = wanted[0] if wanted else next(iter(measured), None)
    results.finish(run, {"samples": len(samples), **measured}, primary=primary, tb_prefix="eval/")
    return 0
