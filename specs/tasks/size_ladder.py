"""Task configs of the `size_ladder` route: one cell (a model x an intervention on the
ladder's suites through lm-evaluation-harness) and the ladder's aggregation."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from specs.kinds.size_ladder import Ability, Intervention, LocalTask, Suite
from specs.sections import ParamCount, Section, VLLMSettings
from specs.tasks.base import ModelRef, TaskConfig, task


@task
class TwinsTask(TaskConfig):
    """Perturbed twins of a GSM8K-format file (runtime.size_ladder.twins), and the originals
    they have (the items that could be traced), both with their gold answer in `gold`."""

    task: ClassVar[str] = "ladder_twins"
    outputs: ClassVar[dict[str, str]] = {"originals": "outputs/originals.jsonl", "twins": "outputs/twins.jsonl"}

    data: str
    question_field: str
    rationale_field: str
    seed: int


class ContaminationProbe(Section):
    """What a cell scores besides its suites: the twins' originals and the twins, as two local
    tasks shaped like the named one (scored on `gold`), and Min-K% Prob of their questions."""

    task: LocalTask
    originals: str
    twins: str
    question_field: str
    min_k: float = Field(gt=0, le=1)


@task
class BenchmarkTask(TaskConfig):
    task: ClassVar[str] = "benchmark"
    outputs: ClassVar[dict[str, str]] = {"samples": "outputs/samples.jsonl"}

    model: ModelRef
    suites: list[Suite] = Field(min_length=1)
    intervention: Intervention
    chat_template: bool
    limit: int | None = Field(None, gt=0)
    batch_size: int = Field(gt=0)
    backend: Literal["hf", "vllm"] = "hf"
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)
    local_data: dict[str, str] = Field(default_factory=dict, description=(
        "a named harness task -> a local JSON file of its rows, read instead of its hub data set"))
    contamination: ContaminationProbe | None = None
    fluency: bool = Field(False, description="score the fluency of its free-form answers (an ability row)")
    fluency_text: str | None = Field(None, description="a human-written text: the model's perplexity on it")


class Cell(Section):
    """One benchmark run's place in the ladder, and its metrics file."""

    model: str
    size: ParamCount
    intervention: str
    type: Literal["none", "cot", "self_consistency", "best_of_n"]
    metrics: str


class JudgedCell(Section):
    model: str
    intervention: str
    samples: str


@task
class JudgeTask(TaskConfig):
    """The perplexity of every cell's free-form answers under one model of the family."""

    task: ClassVar[str] = "ladder_judge"
    outputs: ClassVar[dict[str, str]] = {"judge": "outputs/judge.json"}

    model: ModelRef
    cells: list[JudgedCell] = Field(min_length=1)
    batch_size: int = Field(gt=0)


@task
class LadderAggregateTask(TaskConfig):
    task: ClassVar[str] = "ladder_aggregate"
    outputs: ClassVar[dict[str, str]] = {"table": "outputs/ladder.csv", "ladder": "outputs/ladder.json"}

    cells: list[Cell] = Field(min_length=1)
    abilities: dict[str, Ability]
    judge: str | None = Field(None, description="the judge's perplexities per cell (ladder_judge)")
