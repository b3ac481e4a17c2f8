"""Task `evaluate`: a model on a held-out file.

Generation metrics (exact match after a normaliser, accuracy of an extracted answer) and
likelihood metrics (perplexity of the reference answer). Per-sample predictions go to
`outputs/predictions.jsonl`, metrics to `outputs/metrics.json` and TensorBoard. Route
issues add evaluators to `EVALUATORS` (formula metrics, vision probes, benchmark suites).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import data
from runtime.errors import TaskInputError
from runtime.generate import generate_batched, load_model, render_prompt
from runtime.io import atomic_write_json
from runtime.tb import log_final, log_timeline

NORMALIZERS: dict[str, Callable[[str], str]] = {
    "none": lambda s: s,
    "basic": lambda s: re.sub(r"\s+", " ", s.strip().lower()).rstrip("."),
    "number": lambda s: _number(s),
    "latex": lambda s: _latex(s),
}


def _latex(text: str) -> str:
    from runtime.formulas.latex import normalize

    return normalize(text)


def _number(text: str) -> str:
    """The last number in the text (answers come after the reasoning), canonicalised."""
    found = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    if not found:
        return text.strip()
    value = float(found[-1])
    return str(int(value)) if value.is_integer() else str(value)


def _boxed(text: str) -> str:
    """The content of the last \\boxed{...}, nested braces included."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return ""
    depth, i = 0, start + len("\\boxed{") - 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return ""


def extract(text: str, how: str, regex: str | None = None) -> str:
    if how == "last_number":
        numbers = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
        return numbers[-1] if numbers else ""
    if how == "boxed":
        return _boxed(text)
    if how == "regex" and regex:
        found = re.search(regex, text)
        if not found:
            return ""
        return (found.group(1) if found.groups() else found.group()) or ""
    return text


def perplexity(model: Any, tokenizer: Any, prompts: list[str], answers: list[str]) -> float:
    """exp(mean negative log-likelihood of the answer tokens given the prompt)."""
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


@dataclass(frozen=True)
class Sample:
    """One held-out item: the prompt, the reference answer, the image path for a
    vision-language model, and the row's other fields (e.g. a test subset)."""

    prompt: str
    gold: str
    image: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def default_evaluator(config: dict[str, Any], model: Any, tokenizer: Any,
                      samples: list[Sample]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    ev = config["task_config"]["evaluation"]
    metrics_wanted = set(ev["metrics"])
    prompts = [s.prompt for s in samples]
    golds = [s.gold for s in samples]
    images = [s.image or "" for s in samples] if samples and samples[0].image else None
    results: dict[str, float] = {}
    predictions: list[dict[str, Any]] = [{"prompt": s.prompt, "gold": s.gold, **({"image": s.image} if s.image else {})}
                                         for s in samples]
    if metrics_wanted & {"exact_match", "accuracy"}:
        outputs = generate_batched(model, tokenizer, prompts, ev["generation"], images=images)
        norm = NORMALIZERS[ev["normalizer"]]
        hits_em, hits_acc = 0, 0
        for pred, out in zip(predictions, outputs, strict=True):
            text = out[0] if out else ""
            answer = extract(text, ev["answer_extractor"], ev.get("answer_regex"))
            pred.update(prediction=text, extracted=answer,
                        exact_match=norm(text) == norm(pred["gold"]),
                        correct=norm(answer) == norm(extract(pred["gold"], ev["answer_extractor"],
                                                              ev.get("answer_regex")) or pred["gold"]))
            hits_em += pred["exact_match"]
            hits_acc += pred["correct"]
        if "exact_match" in metrics_wanted:
            results["exact_match"] = hits_em / max(len(samples), 1)
        if "accuracy" in metrics_wanted:
            results["accuracy"] = hits_acc / max(len(samples), 1)
    if "perplexity" in metrics_wanted and images is None:
        results["perplexity"] = perplexity(model, tokenizer, prompts, golds)
    return results, predictions


Evaluator = Callable[..., tuple[dict[str, float], list[dict[str, Any]]]]
EVALUATORS: dict[str, str] = {  # name -> "module:function", imported only when asked for
    "default": "runtime.evaluate:default_evaluator",
    "formula": "runtime.formulas.evaluator:evaluate",
    "mllm": "runtime.radio.mllm_eval:evaluate",
    "reasoning": "runtime.reasoning.evaluator:evaluate",
}


def evaluator(name: str) -> tuple[Evaluator, Callable[..., tuple[Any, Any]]]:
    """The evaluator and its model loader (the module's `load_model`, else transformers')."""
    if name not in EVALUATORS:
        raise TaskInputError(f"evaluator {name!r} is not available in this labspec version "
                             f"(available: {', '.join(EVALUATORS)})")
    import importlib

    module_name, function = EVALUATORS[name].split(":")
    module = importlib.import_module(module_name)
    found: Evaluator = getattr(module, function)
    return found, getattr(module, "load_model", load_model)


def load_samples(config: dict[str, Any]) -> list[Sample]:
    """The held-out rows as Samples, every needed column checked before a model loads."""
    tc = config["task_config"]
    base = config["base_dir"]
    fields = tc.get("fields", {})
    vis = tc.get("vision") or {}
    if not tc.get("data"):
        raise TaskInputError("evaluate: no held-out file (set data.test or evaluation.data)")
    path = str(data.resolve(tc["data"], base))
    ds = data.load(path, fields.get("format", "jsonl"), "evaluation data")
    image = vis.get("image_field") or fields.get("image_field")
    prompt_field = vis.get("prompt_field") or fields.get("prompt_field", "prompt")
    answer_field = vis.get("answer_field") or fields.get("completion_field", "completion")
    default_prompt = vis.get("prompt")
    needed = [answer_field] + ([] if image and default_prompt else [prompt_field]) + ([image] if image else [])
    ds = data.require_columns(ds, needed, path, "data.prompt_field / data.completion_field"
                              + (" / data.image_field" if image else ""))
    limit = tc["evaluation"].get("max_samples")
    samples = []
    for i in range(min(len(ds), limit) if limit else len(ds)):
        row = ds[i]
        picture = None
        if image:
            picture = str(row[image]) if Path(str(row[image])).is_absolute() else str(Path(path).parent / row[image])
        samples.append(Sample(
            prompt=str(row[prompt_field]) if row.get(prompt_field) is not None else str(default_prompt),
            gold=str(row[answer_field]), image=picture,
            extra={k: v for k, v in row.items() if k not in (prompt_field, answer_field, image)}))
    return samples


def run(config: dict[str, Any]) -> int:
    tc = config["task_config"]
    evaluate, loader = evaluator(tc.get("evaluator") or "default")
    samples = load_samples(config)
    if loader is load_model:
        model, processing = load_model(tc["model"], config["base_dir"], vision=bool(samples and samples[0].image))
    else:
        model, processing = loader(tc["model"], config["base_dir"])
    results, predictions = evaluate(config, model, processing, samples)
    out = Path(config["outputs"]["predictions"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(p) + "\n" for p in predictions), encoding="utf-8")
    wanted = [m for m in tc["evaluation"]["metrics"] if m in results]
    primary = wanted[0] if wanted else next(iter(results), None)
    atomic_write_json(Path(config["outputs"]["metrics"]), {"primary_metric": primary, "samples": len(samples),
                                                           **results})
    log_final(config, {f"eval/{k}": v for k, v in results.items()})
    log_timeline(config, results)
    return 0
