"""Task configs of the `formula_dpo` route: the data splits, mining pairs from the SFT
model's own mistakes, and the formula evaluator's options."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from specs.kinds.formula_dpo import FormulaDataset, MiningSettings
from specs.tasks.base import TaskConfig, task
from specs.tasks.generic import EvaluatorOptions, evaluator_options


@task
class FormulaDataTask(TaskConfig):
    task: ClassVar[str] = "formula_data"
    outputs: ClassVar[dict[str, str]] = {"train": "outputs/train.jsonl", "test": "outputs/test.jsonl",
                                         "images": "outputs/images"}

    dataset: FormulaDataset


@task
class MinePairsTask(TaskConfig):
    task: ClassVar[str] = "mine_pairs"
    outputs: ClassVar[dict[str, str]] = {"pairs": "outputs/pairs.jsonl"}

    predictions: str = Field(description="the formula evaluator's predictions on the training split")
    mining: MiningSettings
    prompt: str


@evaluator_options
class FormulaEvalOptions(EvaluatorOptions):
    """The formula evaluator: extra sampled candidates (for mining), test subsets, and the
    metrics of an earlier evaluation to report the change against."""

    evaluator: ClassVar[str] = "formula"

    extra_samples: int = Field(0, ge=0)
    extra_temperature: float = Field(1.0, ge=0)
    subsets: list[str] = Field(default_factory=list)
    baseline: str | None = Field(None, description="an earlier evaluation's metrics.json")
