"""Task `filter_chains`: one bootstrap iteration's training data from the sampled chains.

Per training question: keep the chains whose final answer the checker accepts; for a
question with none, optionally STaR's rationalisation: sample again with the answer given
as a hint and keep right chains without the hint; de-duplicate (text or equations); cap
per question; optionally add the gold rationale. Written as versioned JSONL with
provenance (model, iteration, question, source), rows ready for the sft task: the
chain-of-thought prompt under data.prompt_field, the chain under data.completion_field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.core.io import read_jsonl, write_jsonl
from runtime.core.sampling import generate_batched, load_for_generation, release
from runtime.reasoning import chains
from runtime.reasoning.checkers import chain_right
from specs.kinds.reasoning import AnswerChecker
from specs.sections import GenerationSettings
from specs.tasks import RunConfig
from specs.tasks.reasoning import FilterChainsTask, Rationalization

FORMAT_VERSION = 1


def right_chains(texts: list[str], gold: str, checker: AnswerChecker) -> list[str]:
    return [chains.clean(t) for t in texts if t.strip() and chain_right(t, gold, checker)]


def rationalise(questions: list[dict[str, Any]], settings: Rationalization, samples: int, base: str,
                checker: AnswerChecker) -> dict[int, list[str]]:
    """Right chains for unsolved questions, sampled with the answer as a hint."""
    gen = GenerationSettings.model_construct(
        num_samples=samples, temperature=settings.temperature, max_new_tokens=settings.max_new_tokens, batch_size=16,
        backend=settings.backend, vllm=settings.vllm)
    model, tokenizer = load_for_generation(settings.model, base, gen, role="rationalizer")
    prompts = [chains.prompt(q["question"], hint=q["gold"]) for q in questions]
    try:
        out = generate_batched(model, tokenizer, prompts, gen)
    finally:
        release(model)
    return {q["index"]: right_chains(texts, q["gold"], checker) for q, texts in zip(questions, out, strict=True)}


def run(run: RunConfig, tc: FilterChainsTask) -> int:
    base = run.base_dir
    qf, af = tc.question_field, tc.answer_field
    path = Path(str(data.resolve(tc.samples, base)))
    try:
        rows = read_jsonl(path)
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"samples: cannot read {path} ({exc})") from None
    if rows and af not in rows[0]:
        raise TaskInputError(f"{path}: rows have no {af!r} (the gold answer); set data.completion_field")
    checker = tc.checker
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
    rat = tc.rationalization
    if rat.enabled and unsolved:
        samples = max(1, max((len(r["generations"]) for r in rows), default=1))
        for index, good in rationalise(unsolved, rat, samples, base, checker).items():
            if good:
                kept[index] = [(c, "rationalization") for c in good]
    provenance = {f"provenance_{k}": str(v) for k, v in tc.provenance.items()}

    def record(r: dict[str, Any], text: str, source: str) -> dict[str, Any]:
        return {qf: chains.prompt(str(r["prompt"])), af: text, "source_question": r["prompt"],
                "question_index": r["index"], "source": source, "format_version": FORMAT_VERSION, **provenance}

    out_rows = []
    for r in sorted(rows, key=lambda r: r["index"]):
        if r["index"] in kept:
            texts = chains.dedupe([c for c, _ in kept[r["index"]]], tc.dedupe)[: tc.max_chains_per_question]
            source = dict(kept[r["index"]])
            out_rows += [record(r, t, source[t]) for t in texts]
        rationale, final = chains.gold_parts(str(r[af]))
        if tc.include_gold and rationale:  # also for unsolved questions: they teach through it
            out_rows.append(record(r, f"{rationale.rstrip('.')}. The answer is {final}.", "gold"))
    if not out_rows:
        raise TaskInputError(f"filter_chains: no right chain among {sampled} samples for {len(rows)} questions; "
                             "raise reasoning.bootstrap.samples_per_question or temperature, add few-shot exemplars, "
                             "or set include_gold: true")
    write_jsonl(Path(run.outputs["data"]), out_rows)
    n = max(len(rows), 1)
    from_chains = [r for r in out_rows if r["source"] != "gold"]
    summary = {"questions": len(rows), "sampled": sampled, "data_size": len(out_rows),
               "coverage": len(kept) / n, "coverage_before_rationalization": covered_by_samples / n,
               "yield": right_samples / max(sampled, 1),
               "distinct_per_question": len(from_chains) / max(len(kept), 1),
               "rationalization_share": sum(r["source"] == "rationalization" for r in out_rows) / len(out_rows)}
    results.finish(run, summary, primary="coverage", tb_prefix="filter/")
    return 0
