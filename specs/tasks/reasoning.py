"""Task configs of the `reasoning` route: filtering sampled chains into training data,
the planner + solver evaluation, and the reasoning evaluator's options."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, JsonValue

from specs.kinds.reasoning import AnswerChecker, FormatReward, PlanSolveMode, plan_only
from specs.sections import Section, VLLMSettings
from specs.tasks.base import DatasetRef, ModelRef, TaskConfig, task
from specs.tasks.generic import EvaluatorOptions, RewardOptions, evaluator_options, reward_options


class Rationalization(Section):
    """STaR's rationalisation: unsolved questions sampled again with the answer as a hint."""

    enabled: bool
    model: ModelRef
    temperature: float = Field(ge=0)
    max_new_tokens: int = Field(gt=0)
    backend: Literal["hf", "vllm"] = "hf"
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)


@task
class FilterChainsTask(TaskConfig):
    task: ClassVar[str] = "filter_chains"
    outputs: ClassVar[dict[str, str]] = {"data": "outputs/chains.jsonl"}

    samples: str = Field(description="the sample stage's generations")
    question_field: str
    answer_field: str
    checker: AnswerChecker
    rationalization: Rationalization
    dedupe: Literal["none", "exact", "equations"]
    max_chains_per_question: int = Field(gt=0)
    include_gold: bool
    provenance: dict[str, JsonValue] = Field(default_factory=dict)


@task
class PlanSolveTask(TaskConfig):
    task: ClassVar[str] = "plan_solve"
    outputs: ClassVar[dict[str, str]] = {"predictions": "outputs/predictions.jsonl",
                                         "plans": "outputs/accepted_plans.jsonl"}

    planner: ModelRef
    solver: ModelRef
    data: DatasetRef
    checker: AnswerChecker
    max_plan_tokens: int = Field(gt=0)
    max_new_tokens: int = Field(gt=0)
    modes: list[PlanSolveMode] = Field(default_factory=plan_only, min_length=1, description=(
        "the arms beside both models alone; the planner is the small model in either"))
    verify_rounds: int = Field(2, ge=0, le=10)
    max_verdict_tokens: int = Field(64, gt=0)
    train_planner: bool = False
    backend: Literal["hf", "vllm"] = "hf"
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)


@evaluator_options
class ReasoningEvalOptions(EvaluatorOptions):
    """Chain-of-thought answers scored by the route's checker: greedy, majority over k, pass@k."""

    evaluator: ClassVar[str] = "reasoning"

    checker: AnswerChecker
    majority_k: int = Field(gt=0)
    temperature: float = Field(ge=0)
    max_new_tokens: int = Field(gt=0)
    few_shot: int = Field(0, ge=0)
    exemplars: DatasetRef | None = Field(None, description="worked examples (never the held-out file)")


@reward_options
class ReasoningRewardOptions(RewardOptions):
    """GRPO's reward on a chain: 1 when the checker accepts its final answer against the
    gold, plus `format.weight` when it is written in the format's template."""

    reward: ClassVar[str] = "reasoning"

    checker: AnswerChecker
    format: FormatReward
