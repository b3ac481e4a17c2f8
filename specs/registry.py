"""The experiment kinds, by the name a spec's `kind:` uses."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from specs.base import ExperimentBase
from specs.kinds.dpo import DPOExperiment
from specs.kinds.evaluate import EvaluateExperiment
from specs.kinds.formula_dpo import FormulaDPOExperiment
from specs.kinds.grpo import GRPOExperiment
from specs.kinds.radio import RadioExperiment
from specs.kinds.reasoning import ReasoningExperiment
from specs.kinds.sft import SFTExperiment
from specs.kinds.size_ladder import SizeLadderExperiment
from specs.kinds.smoke import SmokeExperiment
from specs.kinds.spin import SpinExperiment

KINDS: dict[str, type[ExperimentBase]] = {
    "sft": SFTExperiment,
    "dpo": DPOExperiment,
    "grpo": GRPOExperiment,
    "evaluate": EvaluateExperiment,
    "formula_dpo": FormulaDPOExperiment,
    "spin": SpinExperiment,
    "radio": RadioExperiment,
    "size_ladder": SizeLadderExperiment,
    "reasoning": ReasoningExperiment,
    "smoke": SmokeExperiment,
}

def experiment_adapter() -> TypeAdapter[ExperimentBase]:
    """A TypeAdapter over the union of all kinds, told apart by `kind` (for the JSON Schema)."""
    union = Union[tuple(KINDS.values())]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(Annotated[union, Field(discriminator="kind")])  # type: ignore[arg-type]
