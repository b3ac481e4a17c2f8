"""Kind `radio`: AM-RADIO-style distillation of several vision teachers into one student
ViT, then LLaVA-style models built on each encoder variant, compared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import SLUG, ExperimentBase
from specs.sections import EvaluationSettings, GenerationSettings, Section

TeacherFamily = Literal["clip", "siglip", "dinov2", "sam", "convnext", "backbone"]
# model_type in config.json -> the transformers class that holds the vision tower ("backbone":
# any model AutoBackbone loads, i.e. whose config names its stages)
MODEL_TYPES: dict[str, dict[str, str]] = {
    "clip": {"clip": "CLIPVisionModel", "clip_vision_model": "CLIPVisionModel"},
    "siglip": {"siglip": "SiglipVisionModel", "siglip_vision_model": "SiglipVisionModel"},
    "dinov2": {"dinov2": "Dinov2Model", "dinov2_with_registers": "Dinov2WithRegistersModel"},
    "sam": {"sam": "SamVisionModel", "sam_vision_model": "SamVisionModel"},
    "convnext": {"convnext": "ConvNextModel", "convnextv2": "ConvNextV2Model"},
}
FEATURE_MAPS = ("convnext", "backbone")  # families whose features are a convolutional stage's map
NO_SUMMARY = ("sam", "backbone")  # families without a summary (SAM has no class token; a bare backbone no pooler)


class Teacher(Section):
    name: str = Field(pattern=SLUG)
    name_or_path: str = Field(min_length=1)
    family: TeacherFamily = Field(description="clip, siglip, dinov2 (with or without registers), sam, convnext "
                                  "(ConvNeXt and ConvNeXt V2), or backbone: any model transformers' "
                                  "AutoBackbone loads (Swin, ResNet, ...), with out_features")
    resolution: int = Field(224, gt=0, le=16_384)
    summary: bool | None = Field(None, description="match its summary; default: all but SAM and backbone "
                                 "(ConvNeXt's is its pooled output)")
    out_features: list[str] | None = Field(
        None, min_length=1, description="convnext and backbone: the stages whose feature maps are its features "
        "(transformers' stage names, e.g. [stage3] for a finer grid); several are resized to the first one's "
        "grid and stacked; default for convnext: the last stage")
    summary_weight: float = Field(1.0, ge=0)
    feature_weight: float = Field(1.0, ge=0)

    @property
    def has_summary(self) -> bool:
        return self.summary if self.summary is not None else self.family not in NO_SUMMARY

    def problems(self) -> Iterator[tuple[str, str]]:
        """What is wrong with this entry alone, as (field, message); with a local model folder,
        also what its config.json says (a hub id is checked when the run loads it)."""
        if self.out_features is not None and self.family not in FEATURE_MAPS:
            yield "out_features", f"only convnext and backbone teachers have stages; a {self.family} teacher's " \
                                  "features are its patch tokens: drop out_features"
        if self.family == "backbone" and self.out_features is None:
            yield "out_features", "a backbone teacher names the stages whose feature maps it gives, e.g. [stage4]"
        if self.summary and self.family in NO_SUMMARY:
            yield "summary", f"a {self.family} teacher has no summary (no class token or pooled output); " \
                             "set summary: false (or leave it out)"
        config = _local_config(self.name_or_path)
        if config is None:
            return
        model_type = config.get("model_type")
        stages = config.get("stage_names")
        if self.family == "backbone":
            if not isinstance(stages, list):
                yield "name_or_path", f"{self.name_or_path} is a {model_type!r} model with neither a feature map " \
                                      "nor patch tokens that AutoBackbone can give (its config.json names no " \
                                      "stages): use a vision backbone"
                return
        elif model_type not in MODEL_TYPES[self.family]:
            yield "name_or_path", f"{self.name_or_path} is a {model_type!r} model, not {self.family} (expected " \
                                  f"model_type {' or '.join(map(repr, MODEL_TYPES[self.family]))}); fix family " \
                                  "or name_or_path"
            return
        names = [str(x) for x in stages] if isinstance(stages, list) else None
        unknown = [f for f in self.out_features or () if names is not None and f not in names]
        if unknown:
            yield "out_features", f"{self.name_or_path} has no stage {unknown[0]!r}; its stages are " \
                                  f"{', '.join(names or [])}"


def _local_config(path: str) -> dict[str, object] | None:
    """config.json of a local model folder (relative to where labspec runs), else None."""
    found = Path(path) / "config.json"
    try:
        data = json.loads(found.read_text(encoding="utf-8")) if found.is_file() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
        for i, teacher in enumerate(self.radio.teachers):
            for where, message in teacher.problems():
                yield f"radio.teachers.{i}.{where}", message
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
            yield "radio.teachers", "at least one teacher needs a summary (CLIP, SigLIP, DINOv2 or ConvNeXt)"
