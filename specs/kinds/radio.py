"""Kind `radio`: AM-RADIO-style distillation of several vision teachers into one student
ViT, then LLaVA-style models built on each encoder variant, compared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import SLUG, ExperimentBase
from specs.sections import EvaluationSettings, GenerationSettings, Section

TeacherFamily = Literal["clip", "siglip", "dinov2", "sam"]


class Teacher(Section):
    name: str = Field(pattern=SLUG)
    name_or_path: str = Field(min_length=1)
    family: TeacherFamily
    resolution: int = Field(224, gt=0, le=16_384)
    summary: bool | None = Field(None, description="match its summary token; default: all but SAM")
    summary_weight: float = Field(1.0, ge=0)
    feature_weight: float = Field(1.0, ge=0)

    @property
    def has_summary(self) -> bool:
        return self.summary if self.summary is not None else self.family != "sam"


class Student(Section):
    width: int = Field(768, gt=0, le=65_536)
    depth: int = Field(12, gt=0, le=1024)
    heads: int = Field(12, gt=0, le=1024)
    patch_size: int = Field(16, gt=0, le=1024)
    resolution: int = Field(224, gt=0, le=16_384)
    registers: int = Field(4, ge=0, le=1024)
    init: str | None = Field(None, description="checkpoint to start from; default: from scratch")


class DistillSettings(Section):
    data: str = Field(description="images to distil on (folder or JSONL of paths)")
    phi_s: bool = Field(True, description="PHI-S standardisation of teacher features")
    calibration_batches: int = Field(32, gt=0, le=1_000_000)
    cache_teachers: bool = False
    augment: bool = True


class MLLMSettings(Section):
    llm: str = Field(min_length=1, description="language model hub id or path")
    projector: Literal["linear", "mlp2x_gelu"] = "mlp2x_gelu"
    variants: list[str] = Field(
        default_factory=lambda: ["student"],
        description="teacher names, 'student', or 'concat' (all teachers side by side)",
    )
    pretrain_data: str
    finetune_data: str
    eval_data: str
    freeze_encoder: bool = True
    pretrain_lr: float = Field(1e-3, gt=0, description="LLaVA-1.5 stage 1 (projector only) learning rate")
    pretrain_steps: int | None = Field(None, gt=0, description="stage 1 steps; default: the mllm stage's max_steps")
    evaluation: EvaluationSettings = Field(default_factory=lambda: EvaluationSettings(
        metrics=["exact_match"], normalizer="basic", generation=GenerationSettings(max_new_tokens=16, batch_size=32)))


Probe = Literal["knn", "linear"]


class EncoderEvaluation(Section):
    probes: list[Probe] = Field(default_factory=lambda: list[Probe](["knn", "linear"]))
    data: str
    classes: int | None = Field(None, gt=0)


class RadioSection(Section):
    teachers: list[Teacher] = Field(min_length=1)
    student: Student = Field(default_factory=Student)
    distill: DistillSettings
    encoder_evaluation: EncoderEvaluation
    mllm: MLLMSettings


class RadioExperiment(ExperimentBase):
    evaluations: ClassVar[dict[str, str | None]] = {"radio.mllm.evaluation": "mllm"}
    stage_types: ClassVar[dict[str, bool]] = {
        "distill": True,
        "evaluate_encoder": False,
        "mllm": True,
        "evaluate_mllm": False,
    }

    kind: Literal["radio"]
    radio: RadioSection

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        names = [t.name for t in self.radio.teachers]
        for i, name in enumerate(names):
            if name in names[:i]:
                yield f"radio.teachers.{i}.name", f"teacher name {name!r} is used twice"
            if name in ("student", "concat"):
                yield f"radio.teachers.{i}.name", f"{name!r} is reserved for an encoder variant"
        known = set(names) | {"student", "concat"}
        for i, variant in enumerate(self.radio.mllm.variants):
            if variant not in known:
                yield (f"radio.mllm.variants.{i}",
                       f"unknown variant {variant!r}; use one of {sorted(known)}")
        if self.radio.distill.cache_teachers and self.radio.distill.augment:
            yield ("radio.distill.cache_teachers",
                   "cached teacher outputs are wrong under random augmentation (the features of a "
                   "flipped image are not the flipped features): set augment: false or drop the cache")
        if self.stage_deepspeed("distill").zero_stage > 2:
            yield "deepspeed.zero_stage", "distillation runs with ZeRO 0-2 (stages.distill.deepspeed.zero_stage)"
        if not self.radio.mllm.freeze_encoder:
            yield "radio.mllm.freeze_encoder", "the encoder stays frozen in this version (LLaVA-1.5's recipe)"
        if not any(t.has_summary for t in self.radio.teachers):
            yield "radio.teachers", "at least one teacher needs a summary token (CLIP, SigLIP or DINOv2)"
