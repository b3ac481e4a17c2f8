"""Kind `reasoning`: STaR / rejection-sampling bootstrap of chain-of-thought data for a
small model, RL with verifiable rewards (GRPO) after it or from the base model, and a
small model beside a large one (it plans for it, or is checked by it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import MAX_STEPS, GRPOSettings, ModelSpec, Section, VLLMSettings


class AnswerChecker(Section):
    type: Literal["numeric", "exact", "regex", "sympy"] = "numeric"
    tolerance: float = Field(1e-6, ge=0)
    regex: str | None = None


class FormatReward(Section):
    """A reward for the answer's shape, added to the checker's 0 or 1 (R1-Zero's format
    reward). `answer`: the chain states "The answer is X." (the route's prompt asks for it);
    `think`: <think>...</think> then <answer>X</answer>, for a model taught that template."""

    template: Literal["none", "answer", "think"] = "answer"
    weight: float = Field(0.1, ge=0, le=10)


class ReasoningGRPO(GRPOSettings):
    """The route's GRPO stage: from the last STaR model (`bootstrap`; the base model when
    there are no iterations) or from the base model (`base`, R1-Zero style, with the
    few-shot prompt), on the training questions, rewarded by the route's checker. No
    section (`reasoning.grpo: null`), no GRPO."""

    start: Literal["bootstrap", "base"] = "bootstrap"
    steps: int = Field(100, gt=0, le=MAX_STEPS, description="optimizer steps")
    format: FormatReward = Field(default_factory=FormatReward)


class BootstrapSettings(Section):
    iterations: int = Field(3, ge=0, le=50, description="STaR iterations; 0: none (GRPO from the base model)")
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


PlanSolveMode = Literal["plan", "verify"]


def plan_only() -> list[PlanSolveMode]:
    """The default modes: the plan mode alone, as before verify existed."""
    return ["plan"]


class PlannerSolver(Section):
    """The route's trained small model beside a large one (`solver`), after the bootstrap.
    Every mode also reports both models alone, so each arm's accuracy reads against its
    tokens: the route pays off when an arm nears the large model's accuracy at a fraction
    of its tokens."""

    enabled: bool = False
    solver: ModelSpec | None = None
    modes: list[PlanSolveMode] = Field(default_factory=plan_only, min_length=1, description=(
        "plan: the small model plans, the large one solves with the plan; verify: the small model solves, the "
        "large one accepts its chain or names the first wrong step, the small one retries"))
    max_plan_tokens: int = Field(256, gt=0)
    verify_rounds: int = Field(2, ge=0, le=10, description="retries the small model gets after a rejection; then "
                               "the large model answers")
    max_verdict_tokens: int = Field(64, gt=0, description="the large model's verdict on a chain (verify mode)")
    train_planner: bool = Field(False, description="SFT of the small model on the plans that led to a right "
                                "answer (plan mode)")


class ReasoningSection(Section):
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    checker: AnswerChecker = Field(default_factory=AnswerChecker)
    evaluation: ReasoningEvaluation = Field(default_factory=ReasoningEvaluation)
    planner_solver: PlannerSolver = Field(default_factory=PlannerSolver)
    grpo: ReasoningGRPO | None = Field(None, description="a GRPO stage after the bootstrap (or from the base model)")
    backend: Literal["hf", "vllm"] = Field("hf", description=(
        "the route's generation (samples, rationalisation, held-out answers, plan_solve): transformers' "
        "generate, or vLLM in the stages' own python (stages.<type>.python)"))
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)


class ReasoningExperiment(ExperimentBase):
    stage_types: ClassVar[dict[str, bool]] = {
        "sample": False,
        "filter": False,
        "sft": True,
        "grpo": True,
        "evaluate": False,
        "plan_solve": False,
    }

    kind: Literal["reasoning"]
    reasoning: ReasoningSection = Field(default_factory=ReasoningSection)

    def grpo_settings(self) -> GRPOSettings | None:
        return self.reasoning.grpo

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        r = self.reasoning
        if r.grpo is not None and r.grpo.format.template == "think" and r.checker.type == "regex":
            yield "reasoning.grpo.format.template", ("the think template reads the answer from <answer> tags, "
                                                     "a regex checker from the whole chain: use one or the other")
        if r.checker.type == "regex" and not r.checker.regex:
            yield "reasoning.checker.regex", "a regex checker needs its pattern"
        yield from self._planner_solver_problems()
        if self.data.train is None:
            yield "data.train", "the bootstrap samples chains for training questions: set data.train"
        if r.evaluation.data is None and self.data.test is None:
            yield "data.test", "held-out questions are needed: set data.test or reasoning.evaluation.data"
        if r.bootstrap.few_shot and r.bootstrap.few_shot_file is None and self.data.train is None:
            yield "reasoning.bootstrap.few_shot_file", "few-shot exemplars need a file or data.train"

    def _planner_solver_problems(self) -> Iterator[tuple[str, str]]:
        """One message per mistake, saying what the large model is for in the modes asked
        for (checking chains in verify mode, solving with plans in plan mode). A disabled
        planner_solver runs nothing, so it needs nothing."""
        ps = self.reasoning.planner_solver
        if not ps.enabled:
            return
        if ps.solver is None:
            yield "reasoning.planner_solver.solver", (
                "verify mode needs the large model that checks the small model's chains: set "
                "reasoning.planner_solver.solver" if "verify" in ps.modes else
                "the planner+solver evaluation needs a solver model")
        if ps.train_planner and "plan" not in ps.modes:
            yield "reasoning.planner_solver.train_planner", (
                "train_planner trains on the plans of the plan mode: add plan to reasoning.planner_solver.modes or "
                "set train_planner: false")
