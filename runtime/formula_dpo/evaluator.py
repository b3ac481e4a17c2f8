"""The `formula` evaluator of the evaluate task: image -> LaTeX, scored on normalised tokens.

Greedy predictions give the metrics (BLEU, edit distance, exact match, KaTeX validity,
per test subset where the data has subsets). With `extra_samples` the model also samples
that many candidates per image at `extra_temperature`; they are scored the same way and
kept in the predictions for mining preference pairs (more of the model's own mistakes),
but never enter the metrics. With `baseline` (an earlier evaluation's metrics.json) the
change of every metric is reported as `delta/<metric>`. An empty output counts as
invalid (KaTeX would render nothing without complaint).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.core.sampling import generate_batched
from runtime.formula_dpo import metrics
from runtime.formula_dpo.katex import KatexChecker
from runtime.tasks.evaluate import Sample
from specs.tasks import RunConfig
from specs.tasks.formula_dpo import FormulaEvalOptions
from specs.tasks.generic import EvaluateTask

EMPTY = "empty output (no formula)"


def evaluate(run: RunConfig, tc: EvaluateTask, model: Any, processing: Any,
             samples: list[Sample]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    opts = tc.options if isinstance(tc.options, FormulaEvalOptions) else FormulaEvalOptions()
    wanted: list[str] = list(tc.evaluation.metrics)
    gen = tc.evaluation.generation
    prompts = [s.prompt for s in samples]
    images = [s.image or "" for s in samples] if samples and samples[0].image else None
    golds = [s.gold for s in samples]
    greedy = [out[0] if out else "" for out in generate_batched(model, processing, prompts, gen, images=images)]
    n_extra = opts.extra_samples
    sampled: list[list[str]] = [[] for _ in samples]
    if n_extra:
        sampled = generate_batched(model, processing, prompts, gen.model_copy(update={
            "num_samples": n_extra, "temperature": opts.extra_temperature or 1.0}), images=images)

    checked = "validity" in wanted
    flat = greedy + [text for texts in sampled for text in texts]
    errors: list[str | None] = [None] * (len(flat) + len(golds))
    if checked:
        with KatexChecker() as katex:
            errors = katex.check(flat + golds)
        # KaTeX renders an empty string happily; an empty answer is still not a formula
        errors[:len(flat)] = [EMPTY if not text.strip() else e for text, e in zip(flat, errors, strict=False)]
    scored = [metrics.score(p, g, errors[i], checked) for i, (p, g) in enumerate(zip(greedy, golds, strict=True))]

    predictions: list[dict[str, Any]] = []
    k = len(greedy)
    for sample, prediction, score, extra in zip(samples, greedy, scored, sampled, strict=True):
        row: dict[str, Any] = {"image": sample.image, "prompt": sample.prompt, "gold": sample.gold,
                               "prediction": prediction, **score.as_dict(), **sample.extra}
        if n_extra:
            row["samples"] = []
            for text in extra:
                row["samples"].append({"text": text, **metrics.score(text, sample.gold, errors[k], checked).as_dict()})
                k += 1
        predictions.append(row)

    results = metrics.summary(greedy, golds, scored, wanted)
    if checked:
        results["gold_validity"] = sum(e is None for e in errors[len(flat):]) / max(len(golds), 1)
    subsets = sorted({str(s.extra["subset"]) for s in samples if s.extra.get("subset")})
    for subset in subsets:
        idx = [i for i, s in enumerate(samples) if s.extra.get("subset") == subset]
        part = metrics.summary([greedy[i] for i in idx], [golds[i] for i in idx], [scored[i] for i in idx], wanted)
        results.update({f"{subset}/{name}": value for name, value in part.items()})
    if n_extra:
        candidates = [c for row in predictions for c in row["samples"]]
        results["sampled_wrong_share"] = sum(not c["exact_match"] for c in candidates) / max(len(candidates), 1)
    if opts.baseline:
        before = json.loads(Path(opts.baseline).read_text(encoding="utf-8"))
        results.update({f"delta/{name}": value - float(before[name]) for name, value in list(results.items())
                        if isinstance(before.get(name), (int, float)) and "/" not in name})
    return results, predictions
