"""Fluency as an ability of the ladder: in each cell, distinct-2, repetition and the cut-off
share of its free-form answers, and the model's perplexity on a held-out human-written text;
task `ladder_judge`, the perplexity of every cell's answers under one model of the family.

The ability's score is per answer the mean of three shares in [0, 1] (higher is better):
its distinct bigrams, 1 - its repetition rate (4-grams), and 1 if it ended before the token
limit; a cell's score is their mean over answers, with its standard error, so retention and
gains read as for any other ability. Perplexities are unbounded and stay beside it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.core.io import atomic_write_json
from runtime.size_ladder import probes
from specs.tasks import RunConfig
from specs.tasks.size_ladder import JudgeTask

ABILITY = "fluency"


def answer_scores(texts: Sequence[str], token_counts: Sequence[int], limits: Sequence[int]) -> list[float]:
    """Per answer: mean(distinct-2, 1 - repetition-4, ended before the limit)."""
    out = []
    for text, count, limit in zip(texts, token_counts, limits, strict=True):
        out.append((probes.distinct_n([text], 2) + (1 - probes.repetition_rate([text], 4))
                    + (0.0 if count >= limit else 1.0)) / 3)
    return out


def cell_metrics(texts: Sequence[str], token_counts: Sequence[int], limits: Sequence[int]) -> dict[str, float]:
    if not texts:
        return {}
    score, se = probes.mean_and_stderr(answer_scores(texts, token_counts, limits))
    return {f"ability/{ABILITY}": score, f"ability/{ABILITY}_stderr": se,
            "fluency/distinct_2": probes.distinct_n(texts, 2), "fluency/repetition": probes.repetition_rate(texts, 4),
            "fluency/cut_off": sum(1 for c, lim in zip(token_counts, limits, strict=True) if c >= lim) / len(texts),
            "fluency/answers": len(texts)}


def text_perplexity(model: Any, tokenizer: Any, path_text: str, base: str) -> dict[str, float]:
    """The model's perplexity on the spec's human-written text (ladder.fluency.text)."""
    from runtime.size_ladder.scoring import perplexity, text_windows, token_logprobs

    path = Path(str(data.resolve(path_text, base)))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskInputError(f"ladder.fluency.text: {path} does not exist; name a human-written UTF-8 text file "
                             "(or drop ladder.fluency.text)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskInputError(f"ladder.fluency.text: {path} cannot be read as UTF-8 text ({exc})") from None
    if not text.strip():
        raise TaskInputError(f"ladder.fluency.text: {path} is empty")
    return {"fluency/text_perplexity": perplexity(token_logprobs(model, tokenizer, text_windows(tokenizer, text)))}


def free_answers(samples: Path) -> tuple[list[str], list[str]]:
    """(prompts, answers) of a cell's free-form answers from its samples.jsonl (the suites'
    generate_until tasks; not the contamination probe's)."""
    prompts, answers = [], []
    for line in samples.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "answers" not in row or str(row.get("task", "")).startswith("contamination__"):
            continue
        for response in row["responses"]:
            prompts.append(str(row.get("prompt") or ""))
            answers.append(str(response))
    return prompts, answers


def run(run: RunConfig, tc: JudgeTask) -> int:
    """Task `ladder_judge`: each cell's answers scored by the judge, given their prompts."""
    from runtime.core.models import load_model
    from runtime.size_ladder.scoring import perplexity, token_logprobs

    model, tokenizer = load_model(tc.model, run.base_dir, role="judge")
    cells = []
    for cell in tc.cells:
        path = Path(str(data.resolve(cell.samples, run.base_dir)))
        prompts, answers = free_answers(path)
        logprobs = token_logprobs(model, tokenizer, answers, prompts)
        cells.append({"model": cell.model, "intervention": cell.intervention, "answers": len(answers),
                      "perplexity": perplexity(logprobs)})
    atomic_write_json(Path(run.outputs["judge"]), {"judge": tc.model.name_or_path, "cells": cells})
    results.finish(run, {"cells": len(cells)}, primary="cells")
    return 0
