"""Kind `spin`: self-play fine-tuning (Chen et al., ICML 2024), T iterations of
generate -> pairs -> train against the previous model -> evaluate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import EvaluationSettings, GenerationSettings, Section, SFTSettings


class SpinIteration(Section):
    """What iteration t changes (the published scripts change beta and lr per iteration)."""

    beta: float | None = Field(None, gt=0)
    lr: float | None = Field(None, gt=0)
    prompt_fraction: float | None = Field(None, gt=0, le=1)


class SpinSection(Section):
    iterations: int = Field(3, ge=1, le=50)
    prompt_fraction: float = Field(1.0, gt=0, le=1, description="share of SFT prompts per iteration")
    pairs_from: Literal["current", "current_and_previous", "all"] = Field(
        "current_and_previous", description="the published recipe keeps the previous iteration's pairs"
    )
    downsample: float = Field(1.0, gt=0, le=1, description="keep this share of the pairs")
    loss_type: Literal["sigmoid", "hinge"] = "sigmoid"
    sft_weight: float = Field(
        0.0, ge=0, description="add the chosen (gold) answer's NLL with this weight beside the DPO loss (RPO, "
                               "TRL's 'sft' loss): DPO alone can lower the gold answer's likelihood along with "
                               "the model's own near miss; 0 = plain SPIN")
    beta: float = Field(0.1, gt=0)
    max_prompt_length: int = Field(512, gt=0)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    per_iteration: dict[int, SpinIteration] = Field(default_factory=dict)
    evaluation: EvaluationSettings | None = None
    sft: SFTSettings | None = Field(
        None, description="fine-tune the model on data.train first (SPIN itself starts from an SFT model)")


class SpinExperiment(ExperimentBase):
    evaluations: ClassVar[dict[str, str | None]] = {"spin.evaluation": None}
    stage_types: ClassVar[dict[str, bool]] = {
        "sft": True,
        "generate": False,
        "pairs": False,
        "train": True,
        "evaluate": False,
    }

    kind: Literal["spin"]
    spin: SpinSection = Field(default_factory=SpinSection)

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        for t in self.spin.per_iteration:
            if not 0 <= t < self.spin.iterations:
                yield (f"spin.per_iteration.{t}",
                       f"iteration {t} does not exist (iterations: 0..{self.spin.iterations - 1})")
        if self.data.train is None:
            yield "data.train", "SPIN needs the SFT data (prompts with gold answers): set data.train"
