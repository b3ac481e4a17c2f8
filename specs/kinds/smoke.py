"""Kind `smoke`: the launch path end to end before any trainer exists.

Each stage initialises torch.distributed from the environment, all-reduces every rank's
number for `steps` steps, checkpoints every `checkpoint_every` steps and resumes from
its checkpoint when requeued. `chain` stages run one after another, each adding to its
upstream's result, so the order is visible in the outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import ModelSpec, Section


class SmokeSection(Section):
    steps: int = Field(10, gt=0)
    checkpoint_every: int = Field(2, gt=0)
    step_seconds: float = Field(0.0, ge=0, description="sleep per step (to have time to preempt)")
    chain: int = Field(1, ge=1, le=20, description="stages run one after another")
    fail_stage: int | None = Field(None, ge=0, description="this stage exits with an error (tests)")
    value: float = Field(1.0, description="each rank contributes value x (rank + 1) per step")


class SmokeExperiment(ExperimentBase):
    stage_types: ClassVar[dict[str, bool]] = {"smoke": False}

    kind: Literal["smoke"]
    model: ModelSpec | None = None  # type: ignore[assignment]  # nothing to load
    smoke: SmokeSection = Field(default_factory=SmokeSection)

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        if self.smoke.fail_stage is not None and self.smoke.fail_stage >= self.smoke.chain:
            yield "smoke.fail_stage", f"there are only {self.smoke.chain} stages (0..{self.smoke.chain - 1})"
