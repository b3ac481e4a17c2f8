"""Kind `sft`: supervised fine-tuning, optionally followed by a held-out evaluation."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import EvaluationSettings, SFTSettings


class SFTExperiment(ExperimentBase):
    evaluations: ClassVar[dict[str, str | None]] = {"evaluation": None}
    stage_types: ClassVar[dict[str, bool]] = {"sft": True, "evaluate": False}

    kind: Literal["sft"]
    sft: SFTSettings = Field(default_factory=SFTSettings)
    evaluation: EvaluationSettings | None = None
