"""Task `plan_solve`: a small planner beside a large solver.

The planner writes a numbered plan for each held-out question (no solving); the solver
answers with the chain-of-thought prompt, once alone and once given the plan. Reported:
the solver's accuracy with and without the plan, the plans' acceptance rate (the share of
plans with which the solver got the answer right), how many questions the plan rescued and
how many it hurt, and the tokens each model spent. The accepted plans are written as
planner training data (prompt -> plan), the bootstrap applied to the planner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.core.io import write_jsonl
from runtime.core.models import text_tokenizer
from runtime.core.sampling import generate_batched, load_for_generation, release
from runtime.reasoning import chains
from runtime.reasoning.checkers import check
from specs.sections import GenerationSettings
from specs.tasks import RunConfig
from specs.tasks.reasoning import PlanSolveTask

PLAN = "Write a short numbered plan of the steps that solve this problem. Do not solve it.\n\nQ: {question}\nPlan:"


def run(run: RunConfig, tc: PlanSolveTask) -> int:
    base = run.base_dir
    qf, af = tc.data.prompt_field, tc.data.completion_field
    ds, path = data.load_ref(tc.data, base, "held-out questions")
    ds = data.require_columns(ds, [qf, af], path, "data.prompt_field / data.completion_field")
    questions = [str(r[qf]) for r in ds]
    golds = [chains.gold_parts(str(r[af]))[1] for r in ds]
    engine = {"backend": tc.backend, "vllm": tc.vllm}
    planning = GenerationSettings(max_new_tokens=tc.max_plan_tokens, batch_size=32, **engine)
    planner, ptok = load_for_generation(tc.planner, base, planning, role="planner")
    try:
        plans = [p[0] for p in generate_batched(planner, ptok, [PLAN.format(question=q) for q in questions],
                                                planning)]
    finally:
        release(planner)
    del planner
    limit = GenerationSettings(max_new_tokens=tc.max_new_tokens, batch_size=32, **engine)
    solver, stok = load_for_generation(tc.solver, base, limit, role="solver")
    try:
        alone = [a[0] for a in generate_batched(solver, stok, [chains.prompt(q) for q in questions], limit)]
        with_plan = [chains.prompt(f"{q}\nA plan you may follow:\n{p}") for q, p in zip(questions, plans, strict=True)]
        helped = [a[0] for a in generate_batched(solver, stok, with_plan, limit)]
    finally:
        release(solver)

    def count(tok: Any, texts: list[str]) -> float:
        lengths = [len(text_tokenizer(tok)(t, add_special_tokens=False)["input_ids"]) for t in texts]
        return sum(lengths) / max(len(lengths), 1)

    rows: list[dict[str, Any]] = []
    accepted: list[dict[str, str]] = []
    for q, gold, plan, a, h in zip(questions, golds, plans, alone, helped, strict=True):
        ok_alone = check(chains.final_answer(a), gold, tc.checker)
        ok_plan = check(chains.final_answer(h), gold, tc.checker)
        rows.append({"question": q, "gold": gold, "plan": plan, "alone": a, "with_plan": h,
                     "correct_alone": ok_alone, "correct_with_plan": ok_plan})
        if ok_plan and plan.strip():
            accepted.append({"prompt": PLAN.format(question=q), "plan": plan})
    n = max(len(rows), 1)
    summary = {"questions": len(rows),
               "solver_accuracy": sum(r["correct_alone"] for r in rows) / n,
               "solver_with_plan_accuracy": sum(r["correct_with_plan"] for r in rows) / n,
               "plan_acceptance": len(accepted) / n,
               "rescued": sum(r["correct_with_plan"] and not r["correct_alone"] for r in rows) / n,
               "hurt": sum(r["correct_alone"] and not r["correct_with_plan"] for r in rows) / n,
               "planner_tokens": count(ptok, plans), "solver_tokens_alone": count(stok, alone),
               "solver_tokens_with_plan": count(stok, helped)}
    if tc.train_planner and not accepted:
        raise TaskInputError(f"plan_solve: no plan led the solver to a right answer ({len(rows)} questions), so "
                             "there is nothing to train the planner on; set reasoning.planner_solver.train_planner: "
                             "false or use a stronger planner / solver")
    write_jsonl(Path(run.outputs["predictions"]), rows)
    write_jsonl(Path(run.outputs["plans"]), accepted)
    results.finish(run, summary, primary="solver_with_plan_accuracy", tb_prefix="plan_solve/")
    return 0
