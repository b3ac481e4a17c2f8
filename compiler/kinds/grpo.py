"""Kind `grpo`: grpo -> (evaluate, with the reasoning evaluator)."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode, ref
from specs.errors import CompileError
from specs.kinds.grpo import GRPOExperiment
from specs.sections import EvaluationSettings
from specs.tasks.generic import GRPOTask
from specs.tasks.reasoning import ReasoningEvalOptions, ReasoningRewardOptions


def stages(exp: GRPOExperiment) -> list[StageNode]:
    if exp.data.train is None:
        raise CompileError("GRPO samples answers to training questions: set data.train")
    train = common.dataset(exp, exp.data.train)
    nodes = [StageNode("grpo", "grpo", GRPOTask(
        model=common.model(exp.model), prompts=train, grpo=exp.grpo, reward="reasoning",
        reward_options=ReasoningRewardOptions(checker=exp.checker, format=exp.format),
        prompt_style=exp.prompt_style, few_shot=exp.few_shot, exemplars=train if exp.few_shot else None),
        role="train")]
    ev = exp.evaluation
    held_out = (ev.data or exp.data.test) if ev is not None else None
    if ev is not None and held_out is not None:
        options = ReasoningEvalOptions(checker=exp.checker, majority_k=ev.majority_k, temperature=ev.temperature,
                                       max_new_tokens=exp.grpo.max_completion_length, few_shot=exp.few_shot,
                                       exemplars=train if exp.few_shot else None)
        settings = EvaluationSettings(metrics=["greedy_accuracy", "majority_accuracy"], evaluator="reasoning")
        nodes.append(StageNode("evaluate", "evaluate", common.evaluation(
            exp, settings, common.model(exp.model, ref("grpo", "model")), common.dataset(exp, held_out), "reasoning",
            options=options), role="evaluate", coordinates={"split": "test"}))
    return nodes
