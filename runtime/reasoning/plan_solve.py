"""Task `plan_solve`: the route's small model beside a large one, in the arms `modes` asks for.

Always: the small model alone and the large model alone, each answering the held-out
questions with the chain-of-thought prompt. `plan`: the small model (the planner) writes a
numbered plan for each question (no solving) and the large model (the solver) answers given
it; reported as before: the solver's accuracy with and without the plan, the plans'
acceptance rate (the share of plans with which the solver got the answer right), how many
questions the plan rescued and how many it hurt, and each model's tokens; the accepted plans
are written as planner training data (prompt -> plan), the bootstrap applied to the
planner. `verify`: the small model solves, the large model accepts its chain or names the
first wrong step, the small model retries (`runtime.reasoning.verify`).

Every arm reports its accuracy and the tokens each model generated per question: the route
is worth it when an arm comes close to the large model's accuracy at a fraction of its
tokens. Decoding is greedy, so a prompt is answered once and its answer reused: the
small-alone chains are the verify loop's first round, the large-alone chains its fallback.
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
from runtime.reasoning.checkers import chain_right
from runtime.reasoning.verify import Who, arm, mean, verify_loop
from specs.sections import GenerationSettings
from specs.tasks import RunConfig
from specs.tasks.reasoning import PlanSolveTask

PLAN = "Write a short numbered plan of the steps that solve this problem. Do not solve it.\n\nQ: {question}\nPlan:"


class Models:
    """The small model (the planner: the route's trained model) and the large one (the
    solver), each opened when first asked for, with answers cached by prompt.

    hf: a model stays loaded once opened, so in verify mode both are held at once: the loop
    alternates between them every round, and reloading the large model per round would cost
    more than holding the small one beside it (the stage's resources are sized for the large
    one). vllm: one engine at a time. Two engines in one process would each claim
    `vllm.gpu_memory_utilization` of the same GPUs (the second fails to start at the 0.9
    default) under the one set of engine settings the stage has; so switching models closes
    the open engine, and a verify retry round reopens both (one small and one large start
    per round that has rejected chains left; none for a verdict on a chain that a retry
    repeated word for word, which is answered from the cache)."""

    def __init__(self, tc: PlanSolveTask, base_dir: str) -> None:
        self.tc, self.base_dir = tc, base_dir
        self.open: dict[Who, Any] = {}
        self.tokenizers: dict[Who, Any] = {}
        self.cache: dict[tuple[Who, int, str], str] = {}

    def settings(self, max_new_tokens: int) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=max_new_tokens, batch_size=32, backend=self.tc.backend,
                                  vllm=self.tc.vllm)

    def generate(self, who: Who, prompts: list[str], max_new_tokens: int) -> list[str]:
        """Greedy answers of `who` to `prompts`; a prompt answered before is not asked again."""
        todo = list(dict.fromkeys(p for p in prompts if (who, max_new_tokens, p) not in self.cache))
        if todo:
            gen = self.settings(max_new_tokens)
            model = self._model(who, gen)
            for p, answer in zip(todo, generate_batched(model, self.tokenizers[who], todo, gen), strict=True):
                self.cache[(who, max_new_tokens, p)] = answer[0]
        return [self.cache[(who, max_new_tokens, p)] for p in prompts]

    def _model(self, who: Who, gen: GenerationSettings) -> Any:
        if who not in self.open:
            if self.tc.backend == "vllm":
                self.close()
            ref = self.tc.planner if who == "small" else self.tc.solver
            self.open[who], self.tokenizers[who] = load_for_generation(
                ref, self.base_dir, gen, role="planner" if who == "small" else "solver")
        return self.open[who]

    def count(self, text: str, who: Who) -> int:
        """Tokens of `text` by `who`'s tokenizer (open by then: only what `who` wrote or read is counted)."""
        return len(text_tokenizer(self.tokenizers[who])(text, add_special_tokens=False)["input_ids"])

    def drop(self, who: Who) -> None:
        """Release a model no arm needs any more (its tokenizer stays, for counting)."""
        model = self.open.pop(who, None)
        if model is not None:
            release(model)

    def close(self) -> None:
        for who in list(self.open):
            self.drop(who)


def run(run: RunConfig, tc: PlanSolveTask) -> int:
    if tc.train_planner and "plan" not in tc.modes:
        raise TaskInputError("plan_solve: train_planner trains on the plans of the plan mode; add plan to "
                             "reasoning.planner_solver.modes or set reasoning.planner_solver.train_planner: false")
    questions, golds = held_out(run, tc)
    models = Models(tc, run.base_dir)
    try:
        rows, summary, accepted = arms(models, tc, questions, golds)
    finally:
        models.close()
    if tc.train_planner and not accepted:
        raise TaskInputError(f"plan_solve: no plan led the solver to a right answer ({len(rows)} questions), so "
                             "there is nothing to train the planner on; set reasoning.planner_solver.train_planner: "
                             "false or use a stronger planner / solver")
    write_jsonl(Path(run.outputs["predictions"]), rows)
    write_jsonl(Path(run.outputs["plans"]), accepted)
    primary = "solver_with_plan_accuracy" if "plan" in tc.modes else "solve_verify_accuracy"
    results.finish(run, summary, primary=primary, tb_prefix="plan_solve/")
    return 0


def held_out(run: RunConfig, tc: PlanSolveTask) -> tuple[list[str], list[str]]:
    qf, af = tc.data.prompt_field, tc.data.completion_field
    ds, path = data.load_ref(tc.data, run.base_dir, "held-out questions")
    ds = data.require_columns(ds, [qf, af], path, "data.prompt_field / data.completion_field")
    return [str(r[qf]) for r in ds], [chains.gold_parts(str(r[af]))[1] for r in ds]


def arms(models: Models, tc: PlanSolveTask, questions: list[str],
         golds: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, str]]]:
    """(a row per question, the summary, the accepted plans). The small model's work comes
    first, then the large model's, then the verify loop (which alternates)."""
    cot = [chains.prompt(q) for q in questions]
    small = models.generate("small", cot, tc.max_new_tokens)
    plans = models.generate("small", [PLAN.format(question=q) for q in questions], tc.max_plan_tokens) \
        if "plan" in tc.modes else []
    if "verify" not in tc.modes:
        models.drop("small")
    large = models.generate("large", cot, tc.max_new_tokens)
    rows: list[dict[str, Any]] = [
        {"question": q, "gold": g, "small": s, "correct_small": chain_right(s, g, tc.checker), "alone": a,
         "correct_alone": chain_right(a, g, tc.checker)}
        for q, g, s, a in zip(questions, golds, small, large, strict=True)]
    summary: dict[str, Any] = {
        "questions": len(rows),
        **arm("small", [r["correct_small"] for r in rows], [models.count(s, "small") for s in small], [0] * len(rows)),
        **arm("large", [r["correct_alone"] for r in rows], [0] * len(rows), [models.count(a, "large") for a in large],
              [models.count(p, "large") for p in cot])}
    accepted: list[dict[str, str]] = []
    if "plan" in tc.modes:
        accepted = plan_arm(models, tc, rows, plans, summary)
    if "verify" in tc.modes:
        checked, found = verify_loop(
            questions, golds, solve=lambda p: models.generate("small", p, tc.max_new_tokens),
            judge=lambda p: models.generate("large", p, tc.max_verdict_tokens),
            answer_large=lambda p: models.generate("large", p, tc.max_new_tokens), rounds=tc.verify_rounds,
            checker=tc.checker, count=models.count)
        for row, v in zip(rows, checked, strict=True):
            row["verify"] = {k: v[k] for k in v if k not in ("question", "gold")}
        summary.update(found)
    return rows, summary, accepted


def plan_arm(models: Models, tc: PlanSolveTask, rows: list[dict[str, Any]], plans: list[str],
             summary: dict[str, Any]) -> list[dict[str, str]]:
    """The large model answers given the small model's plan; fills the rows and the summary
    (the arm's figures, and the plan mode's own keys); returns the accepted plans."""
    prompts = [chains.prompt(f"{r['question']}\nA plan you may follow:\n{p}") for r, p in zip(rows, plans, strict=True)]
    helped = models.generate("large", prompts, tc.max_new_tokens)
    accepted: list[dict[str, str]] = []
    for r, plan, h in zip(rows, plans, helped, strict=True):
        r.update(plan=plan, with_plan=h, correct_with_plan=chain_right(h, r["gold"], tc.checker))
        if r["correct_with_plan"] and plan.strip():
            accepted.append({"prompt": PLAN.format(question=r["question"]), "plan": plan})
    n = max(len(rows), 1)
    plan_tokens = [models.count(p, "small") for p in plans]
    helped_tokens = [models.count(h, "large") for h in helped]
    summary.update(arm("plan_solve", [r["correct_with_plan"] for r in rows], plan_tokens, helped_tokens,
                       [models.count(p, "large") for p in prompts]))
    summary.update({"solver_accuracy": summary["large_accuracy"],
                    "solver_with_plan_accuracy": summary["plan_solve_accuracy"],
                    "plan_acceptance": len(accepted) / n,
                    "rescued": sum(r["correct_with_plan"] and not r["correct_alone"] for r in rows) / n,
                    "hurt": sum(r["correct_alone"] and not r["correct_with_plan"] for r in rows) / n,
                    "planner_tokens": mean(plan_tokens), "solver_tokens_alone": summary["large_large_tokens"],
                    "solver_tokens_with_plan": mean(helped_tokens)})
    return accepted
