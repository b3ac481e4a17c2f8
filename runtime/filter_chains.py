"""Task `filter_chains`: one bootstrap iteration's training data from the sampled chains.

Per training question: keep the chains whose final answer the checker accepts; for a
question with none, optionally STaR's rationalisation: sample again with the answer given
as a hint and keep right chains without the hint; de-duplicate (text or equations); cap
per question; optionally add the gold rationale. Written as versioned JSONL with
provenance (model, iteration, question, source), rows ready for the sft task: the
chain-of-thought prompt under data.prompt_field, the chain under data.completion_field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime import data
from runtime.errors import TaskInputError
from runtime.io import atomic_write_json
from runtime.reasoning import chains
from runtime.reasoning.checkers import check
from runtime.tb import log_final, log_timeline

FORMAT_VERSION = 1


def right_chains(texts: list[str], gold: str, checker: dict[str, Any]) -> list[str]:
    return [chains.clean(t) for t in texts if t.strip() and check(chains.final_answer(t), gold, checker)]


def rationalise(questions: list[dict[str, Any]], settings: dict[str, Any], samples: int, base: str,
                checker: dict[str, Any]) -> dict[int, list[str]]:
    """Right chains for unsolved questions, sampled with the answer as a hint."""
    from runtime.generate import generate_batched, load_model

    model, tokenizer = load_model(settings["model"], base)
    prompts = [chains.prompt(q["question"], hint=q["gold"]) for q in questions]
    out = generate_batched(model, tokenizer, prompts, {"num_samples": samples, "temperature": settings["temperature"],
                                                       "max_new_tokens": settings["max_new_tokens"], "batch_size": 16})
    return {q["index"]: right_chains(texts, q["gold"], checker) for q, texts in zip(questions, out, strict=True)}


def run(config: dict[str, Any]) -> int:
    tc = config["task_config"]
    base = config["base_dir"]
    fields = tc.get("fields", {})
    qf, af = fields.get("prompt_field", "prompt"), fields.get("completion_field", "completion")
    path = Path(str(data.resolve(tc["samples"], base)))
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"samples: cannot read {path} ({exc})") from None
    if rows and af not in rows[0]:
        raise TaskInputError(f"{path}: rows have no {af!r} (the gold answer); set data.completion_field")
    checker = tc["checker"]
    sampled = sum(len(r["generations"]) for r in rows)
    kept: dict[int, list[tuple[str, str]]] = {}
    unsolved = []
    for r in rows:
        gold = chains.gold_parts(str(r[af]))[1]
        good = right_chains(r["generations"], gold, checker)
        if good:
            kept[r["index"]] = [(c, "sample") for c in good]
        else:
            unsolved.append({"index": r["index"], "question": str(r["prompt"]), "gold": gold})
    covered_by_samples = len(kept)
    right_samples = sum(len(v) for v in kept.values())
    rat = tc.get("rationalization") or {}
    if rat.get("enabled") and unsolved:
        samples = max(1, max((len(r["generations"]) for r in rows), default=1))
        for index, good in rationalise(unsolved, rat, samples, base, checker).items():
            if good:
                kept[index] = [(c, "rationalization") for c in good]
    provenance = {f"provenance_{k}": str(v) for k, v in (tc.get("provenance") or {}).items()}

    def record(r: dict[str, Any], text: str, source: str) -> dict[str, Any]:
        return {qf: chains.prompt(str(r["prompt"])), af: text, "source_question": r["prompt"],
                "question_index": r["index"], "source": source, "format_version": FORMAT_VERSION, **provenance}

    out_rows = []
    for r in sorted(rows, key=lambda r: r["index"]):
        if r["index"] in kept:
            texts = chains.dedupe([c for c, _ in kept[r["index"]]], tc["dedupe"])[: int(tc["max_chains_per_question"])]
            source = dict(kept[r["index"]])
            out_rows += [record(r, t, source[t]) for t in texts]
        rationale, final = chains.gold_parts(str(r[af]))
        if tc.get("include_gold") and rationale:  # also for unsolved questions: they teach through it
            out_rows.append(record(r, f"{rationale.rstrip('.')}. The answer is {final}.", "gold"))
    if not out_rows:
        raise TaskInputError(f"filter_chains: no right chain among {sampled} samples for {len(rows)} questions; "
                             "raise reasoning.bootstrap.samples_per_question or temperature, add few-shot exemplars, "
                             "or set include_gold: true")
    out = Path(config["outputs"]["data"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in out_rows), encoding="utf-8")
    n = max(len(rows), 1)
    from_chains = [r for r in out_rows if r["source"] != "gold"]
    summary = {"questions": len(rows), "sampled": sampled, "data_size": len(out_rows),
               "coverage": len(kept) / n, "coverage_before_rationalization": covered_by_samples / n,
               "yield": right_samples / max(sampled, 1),
               "distinct_per_question": len(from_chains) / max(len(kept), 1),
               "rationalization_share": sum(r["source"] == "rationalization" for r in out_rows) / len(out_rows)}
    atomic_write_json(Path(config["outputs"]["metrics"]), {"primary_metric": "coverage", **summary})
    log_final(config, {f"filter/{k}": v for k, v in summary.items()})
    log_timeline(config, summary)
    return 0
