"""Task configs of the `radio` route: distillation, the encoder's evaluation, and the
LLaVA-style model's two training stages over one encoder variant."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from specs.kinds.radio import DistillSettings, EncoderEvaluation, MLLMSettings, Student, Teacher
from specs.sections import Section
from specs.tasks.base import MODEL_DIR, ModelRef, TaskConfig, task


class EncoderChoice(Section):
    """The encoder an MLLM (or the encoder evaluation) sees images through: the distilled
    student (its bundle), one teacher, or every teacher side by side."""

    type: Literal["student", "teacher", "concat"]
    path: str | None = Field(None, description="the student's bundle (the distill stage's model)")
    teachers: list[Teacher] = Field(default_factory=list, description="one for `teacher`, all for `concat`")

    @model_validator(mode="after")
    def _complete(self) -> EncoderChoice:
        if self.type == "student" and not self.path:
            raise ValueError("a student encoder needs the distilled bundle's path")
        if self.type == "teacher" and len(self.teachers) != 1:
            raise ValueError("a teacher encoder is exactly one teacher")
        if self.type == "concat" and not self.teachers:
            raise ValueError("concat needs the teachers")
        return self


@task
class DistillTask(TaskConfig):
    task: ClassVar[str] = "distill"
    outputs: ClassVar[dict[str, str]] = {"model": MODEL_DIR}

    teachers: list[Teacher] = Field(min_length=1)
    student: Student
    distill: DistillSettings


@task
class EncoderEvalTask(TaskConfig):
    task: ClassVar[str] = "encoder_eval"

    encoder: EncoderChoice
    teachers: list[Teacher]
    evaluation: EncoderEvaluation


@task
class MLLMTask(TaskConfig):
    task: ClassVar[str] = "mllm"
    outputs: ClassVar[dict[str, str]] = {"model": MODEL_DIR}

    phase: Literal["pretrain", "finetune"]
    encoder: EncoderChoice
    mllm: MLLMSettings
    llm: ModelRef = Field(description="the language model (pretrain builds the MLLM on it)")
    data: str = Field(description="image + caption (pretrain) or image + question + answer (finetune) JSONL")
    init: str | None = Field(None, description="finetune: the pretrain stage's model")

    @model_validator(mode="after")
    def _finetune_starts_from_pretrain(self) -> MLLMTask:
        if self.phase == "finetune" and not self.init:
            raise ValueError("the finetune phase starts from the pretrain stage's model (init)")
        return self
