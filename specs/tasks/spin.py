"""Task configs of the `spin` route: an iteration's training pairs (gold vs model_t's answer)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from specs.tasks.base import TaskConfig, task


@task
class SpinPairsTask(TaskConfig):
    task: ClassVar[str] = "spin_pairs"
    outputs: ClassVar[dict[str, str]] = {"pairs": "outputs/pairs.jsonl", "new_pairs": "outputs/new_pairs.jsonl"}

    generations: str = Field(description="model_t's answers (the generate stage's output, gold answers alongside)")
    answer_field: str = Field(description="the gold answer's field in the generations")
    previous: list[str] = Field(default_factory=list, description="earlier iterations' new pairs to keep")
    downsample: float = Field(1.0, gt=0, le=1)
    sample_seed: int = 0
