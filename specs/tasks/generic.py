"""The generic tasks' configs: smoke, sft, dpo, grpo, generate, evaluate.

The evaluate task runs an evaluator chosen by name; a route's evaluator brings its own
options (`EvaluatorOptions` subclasses in the route's module, registered by name), so
this module knows no route. GRPO's rule-checked reward is chosen the same way (a route
registers its `RewardOptions` and its reward functions by name).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, SerializeAsAny, model_validator

from specs.sections import (
    DPOSettings,
    EvaluationSettings,
    EvaluatorName,
    GenerationSettings,
    GRPOSettings,
    PromptStyle,
    RewardName,
    Section,
    SFTSettings,
)
from specs.tasks.base import MODEL_DIR, DatasetRef, ModelRef, TaskConfig, VisionPrompt, as_named, task


@task
class SmokeTask(TaskConfig):
    """The launch path end to end without a model (specs.kinds.smoke)."""

    task: ClassVar[str] = "smoke"
    outputs: ClassVar[dict[str, str]] = {"checkpoint": "checkpoints/smoke.json"}

    steps: int = Field(gt=0)
    checkpoint_every: int = Field(gt=0)
    step_seconds: float = Field(ge=0)
    value: float
    fail: bool = False
    upstream: str | None = Field(None, description="the upstream smoke run's metrics.json")


@task
class SFTTask(TaskConfig):
    task: ClassVar[str] = "sft"
    outputs: ClassVar[dict[str, str]] = {"model": MODEL_DIR}

    model: ModelRef
    data: DatasetRef
    sft: SFTSettings
    vision: VisionPrompt | None = None


@task
class DPOTask(TaskConfig):
    task: ClassVar[str] = "dpo"
    outputs: ClassVar[dict[str, str]] = {"model": MODEL_DIR}

    model: ModelRef
    reference: ModelRef | None = Field(description="the frozen reference; None: the model with its LoRA adapters off")
    pairs: DatasetRef
    dpo: DPOSettings
    vision: VisionPrompt | None = None


@task
class GenerateTask(TaskConfig):
    task: ClassVar[str] = "generate"
    outputs: ClassVar[dict[str, str]] = {"generations": "outputs/generations.jsonl"}

    model: ModelRef
    prompts: DatasetRef
    generation: GenerationSettings
    prompt_fraction: float = Field(1.0, gt=0, le=1)
    sample_seed: int = 0
    prompt_style: PromptStyle = "plain"
    few_shot: int = Field(0, ge=0, description="worked examples in each prompt (a prompt style that takes them)")
    exemplars: DatasetRef | None = Field(None, description="where the few-shot examples come from")


class EvaluatorOptions(Section):
    """Options of one evaluator (a route's evaluators register theirs by name)."""

    evaluator: ClassVar[str] = ""


EVALUATOR_OPTIONS: dict[str, type[EvaluatorOptions]] = {}
OptionsT = TypeVar("OptionsT", bound=EvaluatorOptions)


def evaluator_options(cls: type[OptionsT]) -> type[OptionsT]:
    EVALUATOR_OPTIONS[cls.evaluator] = cls
    return cls


@task
class EvaluateTask(TaskConfig):
    task: ClassVar[str] = "evaluate"
    outputs: ClassVar[dict[str, str]] = {"predictions": "outputs/predictions.jsonl"}

    model: ModelRef
    data: DatasetRef
    evaluation: EvaluationSettings
    evaluator: EvaluatorName = "default"
    vision: VisionPrompt | None = None
    options: SerializeAsAny[EvaluatorOptions] | None = Field(None, description="the evaluator's own settings")

    @model_validator(mode="before")
    @classmethod
    def _options_of_the_evaluator(cls, data: Any) -> Any:
        return as_named(data, "options", "evaluator", EVALUATOR_OPTIONS, "evaluator", default="default")

    def opts(self, cls: type[OptionsT]) -> OptionsT:
        if not isinstance(self.options, cls):
            raise TypeError(f"the {self.evaluator!r} evaluator needs its options ({cls.__name__})")
        return self.options


Split = Literal["train", "test"]


class RewardOptions(Section):
    """Options of one GRPO reward (a route registers its own by name, as evaluators do)."""

    reward: ClassVar[str] = ""


REWARD_OPTIONS: dict[str, type[RewardOptions]] = {}
RewardT = TypeVar("RewardT", bound=RewardOptions)


def reward_options(cls: type[RewardT]) -> type[RewardT]:
    REWARD_OPTIONS[cls.reward] = cls
    return cls


@task
class GRPOTask(TaskConfig):
    """GRPO on prompts with gold answers: the prompts are written in `prompt_style` (with
    `few_shot` worked examples, R1-Zero style from a base model), the answers scored by the
    reward `reward` names, with its `reward_options`."""

    task: ClassVar[str] = "grpo"
    outputs: ClassVar[dict[str, str]] = {"model": MODEL_DIR}

    model: ModelRef
    prompts: DatasetRef = Field(description="questions under prompt_field, gold answers under completion_field")
    grpo: GRPOSettings
    reward: RewardName
    reward_options: SerializeAsAny[RewardOptions]
    prompt_style: PromptStyle = "plain"
    few_shot: int = Field(0, ge=0)
    exemplars: DatasetRef | None = Field(None, description="where the few-shot examples come from")

    @model_validator(mode="before")
    @classmethod
    def _options_of_the_reward(cls, data: Any) -> Any:
        return as_named(data, "reward_options", "reward", REWARD_OPTIONS, "reward")

    def opts(self, cls: type[RewardT]) -> RewardT:
        if not isinstance(self.reward_options, cls):
            raise TypeError(f"the {self.reward!r} reward needs its options ({cls.__name__})")
        return self.reward_options
