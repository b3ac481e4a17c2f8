"""Kind `reasoning`: STaR / rejection-sampling bootstrap of chain-of-thought data for a
small model, and a small planner beside a large solver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import MAX_STEPS, ModelSpec, Section, VLLMSettings


class AnswerChecker(Section):
    type: Literal["numeric", "exact", "regex", "sympy"] = "numeric"
    tolerance: float = Field(1e-6, ge=0)
    regex: str | None = None


class BootstrapSettings(Section):
    iterations: int = Field(3, ge=1, le=50)
    samples_per_question: int = Field(4, gt=0, le=10_000, description="k chains per question")
    temperature: float = Field(0.7, ge=0)
    max_new_tokens: int = Field(512, gt=0, le=2**20)
    few_shot: int = Field(4, ge=0, description="exemplars in the prompt at t = 0")
    few_shot_file: str | None = None
    rationalization: bool = Field(True, description="retry unsolved questions with the answer as hint")
    dedupe: Literal["none", "exact", "equations"] = "equations"
    max_chains_per_question: int = Field(4, gt=0)
    include_gold: bool = False
    restart_from_base: bool = Field(True, description="STaR restarts each SFT from the base model")
    base_steps: int = Field(40, gt=0, le=MAX_STEPS, description="SFT steps at t = 0")
    steps_growth: float = Field(1.2, ge=1.0, le=4.0, description="SFT steps grow by this factor per iteration")
    shards: int = Field(1, gt=0, le=10_000)


class ReasoningEvaluation(Section):
    data: str | None = Field(None, description="held-out questions; default: data.test")
    majority_k: int = Field(8, gt=0, le=10_000)
    temperature: float = Field(0.7, ge=0)


class PlannerSolver(Section):
    enabled: bool = False
    solver: ModelSpec | None = None
    max_plan_tokens: int = Field(256, gt=0)
    train_planner: bool = False


class ReasoningSection(Section):
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    checker: AnswerChecker = Field(default_factory=AnswerChecker)
    evaluation: ReasoningEvaluation = Field(default_factory=ReasoningEvaluation)
    planner_solver: PlannerSolver = Field(default_factory=PlannerSolver)
    backend: Literal["hf", "vllm"] = Field("hf", description=(
        "the route's generation (samples, rationalisation, held-out answers, plan_solve): transformers' "
        "generate, or vLLM in the stages' own python (stages.<type>.python)"))
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)


class ReasoningExperiment(ExperimentBase):
    stage_types: ClassVar[dict[str, bool]] = {
        "sample": False,
        "filter": False,
        "sft": True,
        "evaluate": False,
        "plan_solve": False,
    }

    kind: Literal["reasoning"]
    reasoning: ReasoningSection = Field(default_factory=ReasoningSection)

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        r = self.reasoning
        if r.checker.type == "regex" and not r.checker.regex:
            yield "reasoning.checker.regex", "a regex checker needs its pattern"
        if r.planner_solver.enabled and r.planner_solver.solver is None:
            yield "reasoning.planner_solver.solver", "the planner+solver evaluation needs a solver model"
        if self.data.train is None:
            yield "data.train", "the bootstrap samples chains for training questions: set data.train"
        if r.evaluation.data is None and self.data.test is None:
            yield "data.test", "held-out questions are needed: set data.test or reasoning.evaluation.data"
        if r.bootstrap.few_shot and r.bootstrap.few_shot_file is None and self.data.train is None:
            yield "reasoning.bootstrap.few_shot_file", "few-shot exemplars need a file or data.train"
