"""Kind `dpo`: preference optimisation on a pairs file, optionally then evaluated."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import DPOSettings, EvaluationSettings


class DPOExperiment(ExperimentBase):
    evaluations: ClassVar[dict[str, str | None]] = {"evaluation": None}
    stage_types: ClassVar[dict[str, bool]] = {"dpo": True, "evaluate": False}

    kind: Literal["dpo"]
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    evaluation: EvaluationSettings | None = None
