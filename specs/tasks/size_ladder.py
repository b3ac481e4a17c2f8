"""Task configs of the `size_ladder` route: one cell (a model x an intervention on the
ladder's suites through lm-evaluation-harness) and the ladder's aggregation."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from specs.kinds.size_ladder import Ability, Intervention, Suite
from specs.sections import ParamCount, Section, VLLMSettings
from specs.tasks.base import ModelRef, TaskConfig, task


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


class Cell(Section):
    """One benchmark run's place in the ladder, and its metrics file."""

    model: str
    size: ParamCount
    intervention: str
    type: Literal["none", "cot", "self_consistency", "best_of_n"]
    metrics: str


@task
class LadderAggregateTask(TaskConfig):
    task: ClassVar[str] = "ladder_aggregate"
    outputs: ClassVar[dict[str, str]] = {"table": "outputs/ladder.csv", "ladder": "outputs/ladder.json"}

    cells: list[Cell] = Field(min_length=1)
    abilities: dict[str, Ability]
