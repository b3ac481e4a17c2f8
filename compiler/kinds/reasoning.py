"""Kind `reasoning`: for t: sample k chains -> check/filter/dedupe -> sft -> evaluate;
then (optionally) the planner + solver evaluation."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import Ref, StageNode
from specs.kinds.reasoning import ReasoningExperiment


def stages(exp: ReasoningExperiment) -> list[StageNode]:
    r = exp.reasoning
    b = r.bootstrap
    base = exp.model.name_or_path
    held_out = r.evaluation.data or exp.data.test
    checker = r.checker.model_dump(mode="json")
    nodes: list[StageNode] = []
    current: str | Ref = base
    for t in range(b.iterations):
        sample, filt, sft = f"sample_t{t}", f"filter_t{t}", f"sft_t{t}"
        nodes += [
            StageNode(sample, "sample", "generate", {
                "model": common.model(exp.model, current if t else None),
                "prompts": exp.data.train,
                "fields": common.data(exp),
                "few_shot": b.few_shot if t == 0 else 0,
                "few_shot_file": b.few_shot_file,
                "sample_seed": exp.seed + t,
                "generation": {"num_samples": b.samples_per_question, "temperature": b.temperature,
                               "max_new_tokens": b.max_new_tokens, "shards": b.shards},
            }, shards=b.shards),
            StageNode(filt, "filter", "filter_chains", {
                "samples": Ref(sample, "generations"),
                "data": exp.data.train,
                "fields": common.data(exp),
                "checker": checker,
                "rationalization": {"enabled": b.rationalization,
                                    "model": common.model(exp.model, current if t else None),
                                    "temperature": b.temperature, "max_new_tokens": b.max_new_tokens},
                "dedupe": b.dedupe,
                "max_chains_per_question": b.max_chains_per_question,
                "include_gold": b.include_gold,
                "provenance": {"iteration": t, "model": current},
            }),
            StageNode(sft, "sft", "sft", {
                "model": common.model(exp.model, None if b.restart_from_base or t == 0 else current),
                "train_data": Ref(filt, "data"),
                "fields": common.data(exp),
                "sft": {"completion_only_loss": True, "packing": False},
            }, training_update={"max_steps": round(b.base_steps * b.steps_growth**t)}),
        ]
        current = Ref(sft, "model")
        nodes.append(StageNode(f"evaluate_t{t}", "evaluate", "evaluate", {
            "model": common.model(exp.model, current),
            "data": held_out,
            "fields": common.data(exp),
            "evaluator": "reasoning",
            "checker": checker,
            "majority_k": r.evaluation.majority_k,
            "temperature": r.evaluation.temperature,
            "iteration": t,
        }))
    ps = r.planner_solver
    if ps.enabled and ps.solver is not None:
        nodes.append(StageNode("plan_solve", "plan_solve", "plan_solve", {
            "planner": common.model(exp.model, current),
            "solver": ps.solver.model_dump(mode="json"),
            "data": held_out,
            "fields": common.data(exp),
            "checker": checker,
            "max_plan_tokens": ps.max_plan_tokens,
            "train_planner": ps.train_planner,
        }))
    return nodes
