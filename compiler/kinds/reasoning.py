"""Kind `reasoning`: evaluate the base model; for t: sample k chains -> check/filter/dedupe
-> sft -> evaluate; then (optionally) the planner + solver evaluation, and SFT of the
planner on the plans that led the solver to the right answer.

Every iteration's figures also go on one TensorBoard timeline (step = the model index:
0 = the base model, t+1 = the model iteration t trained)."""

from __future__ import annotations

from typing import Any

from compiler.kinds import common
from compiler.nodes import Ref, StageNode
from specs.kinds.reasoning import ReasoningExperiment

FILTER_TAGS = {k: f"data/{k}" for k in ("coverage", "coverage_before_rationalization", "yield",
                                        "distinct_per_question", "rationalization_share", "data_size")}


def evaluation(exp: ReasoningExperiment, model: dict[str, Any], step: int, few_shot: int) -> dict[str, Any]:
    r = exp.reasoning
    b = r.bootstrap
    return {
        "model": model,
        "data": r.evaluation.data or exp.data.test,
        "fields": common.data(exp),
        "evaluator": "reasoning",
        "evaluation": {"metrics": ["greedy_accuracy", "majority_accuracy"], "max_samples": None},
        "checker": r.checker.model_dump(mode="json"),
        "majority_k": r.evaluation.majority_k,
        "temperature": r.evaluation.temperature,
        "max_new_tokens": b.max_new_tokens,
        "few_shot": few_shot,
        "few_shot_file": b.few_shot_file,
        "exemplars_from": exp.data.train,  # never the held-out file: its answers would be in the prompt
        "timeline": common.timeline(step, "reasoning/heldout/"),
    }


def stages(exp: ReasoningExperiment) -> list[StageNode]:
    r = exp.reasoning
    b = r.bootstrap
    checker = r.checker.model_dump(mode="json")
    nodes = [StageNode("evaluate_start", "evaluate", "evaluate", evaluation(exp, common.model(exp.model), 0,
                                                                           b.few_shot))]
    current: str | Ref = exp.model.name_or_path
    for t in range(b.iterations):
        sample, filt, sft = f"sample_t{t}", f"filter_t{t}", f"sft_t{t}"
        model_t = common.model(exp.model, current if t else None)
        nodes += [
            StageNode(sample, "sample", "generate", {
                "model": model_t,
                "prompts": exp.data.train,
                "fields": common.data(exp),
                "prompt_style": "cot",
                "few_shot": b.few_shot if t == 0 else 0,  # later models learned the format
                "few_shot_file": b.few_shot_file,
                "sample_seed": exp.seed + t,
                "generation": {"num_samples": b.samples_per_question, "temperature": b.temperature,
                               "max_new_tokens": b.max_new_tokens, "shards": b.shards, "batch_size": 16},
            }, shards=b.shards),
            StageNode(filt, "filter", "filter_chains", {
                "samples": Ref(sample, "generations"),
                "fields": common.data(exp),
                "checker": checker,
                "rationalization": {"enabled": b.rationalization, "model": model_t,
                                    "temperature": b.temperature, "max_new_tokens": b.max_new_tokens},
                "dedupe": b.dedupe,
                "max_chains_per_question": b.max_chains_per_question,
                "include_gold": b.include_gold,
                "provenance": {"iteration": t, "model": current},
                "timeline": common.timeline(t + 1, "reasoning/", FILTER_TAGS),
            }),
            StageNode(sft, "sft", "sft", {
                "model": common.model(exp.model, None if b.restart_from_base or t == 0 else current),
                "train_data": Ref(filt, "data"),
                "fields": {**common.data(exp), "format": "jsonl"},  # filter_chains writes JSONL
                "sft": {"completion_only_loss": True, "packing": False},
                "timeline": common.timeline(t + 1, "reasoning/", {"train_loss": "sft_loss"}),
            }, training_update={"max_steps": round(b.base_steps * b.steps_growth**t)}),
        ]
        current = Ref(sft, "model")
        nodes.append(StageNode(f"evaluate_t{t}", "evaluate", "evaluate",
                               {**evaluation(exp, common.model(exp.model, current), t + 1, 0), "iteration": t}))
    ps = r.planner_solver
    if ps.enabled and ps.solver is not None:
        nodes.append(StageNode("plan_solve", "plan_solve", "plan_solve", {
            "planner": common.model(exp.model, current),
            "solver": ps.solver.model_dump(mode="json"),
            "data": r.evaluation.data or exp.data.test,
            "fields": common.data(exp),
            "checker": checker,
            "max_plan_tokens": ps.max_plan_tokens,
            "max_new_tokens": b.max_new_tokens,
            "train_planner": ps.train_planner,
        }))
        if ps.train_planner:
            nodes.append(StageNode("sft_planner", "sft", "sft", {
                "model": common.model(exp.model, current),
                "train_data": Ref("plan_solve", "plans"),
                "fields": {**common.data(exp), "prompt_field": "prompt", "completion_field": "plan", "format": "jsonl"},
                "sft": {"completion_only_loss": True, "packing": False},
            }))
    return nodes
