"""Contamination-aware scores: task `ladder_twins` (a GSM8K-format file's perturbed twins,
runtime.size_ladder.twins) and, in each cell, the originals and twins scored as two more
local tasks, the drop between them, and Min-K% Prob of both sets of questions.

A model that learned the benchmark's items rather than the skill scores lower on their
twins (the drop), and finds the original questions less surprising than the twins it
cannot have seen (Min-K% gap, and the AUC of telling them apart)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.size_ladder import harness, probes, twins
from specs.tasks import RunConfig
from specs.tasks.size_ladder import ContaminationProbe, TwinsTask

SUITE = "contamination"
ORIGINAL, TWIN = f"{SUITE}__original", f"{SUITE}__twin"


def run(run: RunConfig, tc: TwinsTask) -> int:
    """Write the traced originals and their twins; refuse a file none of whose items can be traced."""
    path = Path(str(data.resolve(tc.data, run.base_dir)))
    what = "ladder.contamination.task"
    rows = data.read_rows(path, what)
    data.filled(rows, [tc.question_field, tc.rationale_field], path, empty="refuse")
    originals, made, left_out = twins.twins(rows, tc.question_field, tc.rationale_field, tc.seed)
    if not made:
        reasons = ", ".join(f"{n} x {why}" for why, n in left_out.most_common())
        raise TaskInputError(f"{what}: no item of {path} can be traced ({reasons}): twins need GSM8K-format rows "
                             f"whose {tc.rationale_field!r} carries calculator annotations like <<48/2=24>> and ends "
                             "with '#### N'")
    for name, items in (("originals", originals), ("twins", made)):
        out = Path(run.outputs[name])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    results.finish(run, {"items": len(rows), "twins": len(made), "left_out": len(rows) - len(made),
                         **{f"left_out/{why}": n for why, n in left_out.items()}}, primary="twins")
    return 0


def harness_tasks(probe: ContaminationProbe, base: str, intervention: dict[str, Any]) -> list[dict[str, Any]]:
    """The originals and the twins as two local tasks shaped like the spec's task."""
    task = probe.task.model_dump()
    out = []
    for name, path in (("original", probe.originals), ("twin", probe.twins)):
        config = harness.local_task(SUITE, {**task, "name": name, "path": str(data.resolve(path, base))}, intervention)
        out.append(config)
    return out


def scores(metrics: dict[str, Any]) -> dict[str, float]:
    """The drop original - twin from the two tasks' scores (their standard errors combined as
    independent: an upper bound, the same questions being used)."""
    orig, orig_se = metrics[f"task/{ORIGINAL}/score"], metrics[f"task/{ORIGINAL}/score_stderr"]
    twin, twin_se = metrics[f"task/{TWIN}/score"], metrics[f"task/{TWIN}/score_stderr"]
    return {"contamination/original": orig, "contamination/original_stderr": orig_se,
            "contamination/twin": twin, "contamination/twin_stderr": twin_se,
            "contamination/drop": orig - twin, "contamination/drop_stderr": math.sqrt(orig_se ** 2 + twin_se ** 2)}


def min_k(model: Any, tokenizer: Any, probe: ContaminationProbe, base: str, limit: int | None,
          out: Path) -> dict[str, float]:
    """Min-K% Prob of every original question and its twin (per item in `out`), their mean
    gap (paired standard error) and the AUC of telling originals from twins."""
    from runtime.size_ladder.scoring import token_logprobs

    sets = []
    for path in (probe.originals, probe.twins):
        rows = data.read_rows(Path(str(data.resolve(path, base))), "ladder.contamination")
        sets.append(rows[:limit] if limit else rows)
    originals, made = sets
    questions = [[str(r[probe.question_field]) for r in rows] for rows in (originals, made)]
    scored = [[probes.min_k_prob(lp, probe.min_k) if lp else float("nan")
               for lp in token_logprobs(model, tokenizer, qs)] for qs in questions]
    pairs = [(o, t, r["index"]) for o, t, r in zip(scored[0], scored[1], originals, strict=True)
             if not (math.isnan(o) or math.isnan(t))]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps({"index": i, "original": o, "twin": t}) + "\n" for o, t, i in pairs),
                   encoding="utf-8")
    if not pairs:
        return {}
    gap, gap_se = probes.mean_and_stderr([o - t for o, t, _ in pairs])
    return {"min_k/original": sum(o for o, _, _ in pairs) / len(pairs), "min_k/twin": sum(t for _, t, _ in pairs)
            / len(pairs), "min_k/gap": gap, "min_k/gap_stderr": gap_se,
            "min_k/auc": probes.auc([o for o, _, _ in pairs], [t for _, t, _ in pairs]), "min_k/items": len(pairs)}
