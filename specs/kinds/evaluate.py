"""Kind `evaluate`: one model on one held-out set."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import EvaluationSettings


class EvaluateExperiment(ExperimentBase):
    evaluations: ClassVar[dict[str, str | None]] = {"evaluation": None}
    stage_types: ClassVar[dict[str, bool]] = {"evaluate": False}

    kind: Literal["evaluate"]
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
