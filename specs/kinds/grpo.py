"""Kind `grpo`: RL with verifiable rewards on its own (TRL's GRPOTrainer on DeepSpeed): a
model, questions with gold answers, the rule that checks an answer, then (optionally) the
chain-of-thought evaluation on held-out questions. The reasoning route's GRPO stage is
the same task after its bootstrap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.kinds.reasoning import AnswerChecker, FormatReward, ReasoningEvaluation
from specs.sections import GRPOSettings, PromptStyle


class GRPOExperiment(ExperimentBase):
    stage_types: ClassVar[dict[str, bool]] = {"grpo": True, "evaluate": False}

    kind: Literal["grpo"]
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    checker: AnswerChecker = Field(default_factory=AnswerChecker)
    format: FormatReward = Field(default_factory=FormatReward)
    prompt_style: PromptStyle = Field("cot", description="how a question is written into the prompt")
    few_shot: int = Field(0, ge=0, le=64, description="worked examples from data.train in each prompt (a base model)")
    evaluation: ReasoningEvaluation | None = Field(None, description="greedy / majority / pass@k on held-out questions")

    def grpo_settings(self) -> GRPOSettings | None:
        return self.grpo

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        if self.checker.type == "regex" and not self.checker.regex:
            yield "checker.regex", "a regex checker needs its pattern"
        if self.data.train is None:
            yield "data.train", "GRPO samples answers to training questions: set data.train"
        if self.evaluation is not None and self.evaluation.data is None and self.data.test is None:
            yield "data.test", "the evaluation needs held-out questions: set data.test or evaluation.data"
