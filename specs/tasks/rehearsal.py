"""The rehearsal's own task: build the shrunk same-class models and the few format-true
rows every run of a rehearsed plan reads (`labspec launch SPEC --rehearse`).

What to build is decided at compile time (`compiler.rehearsal`), so the dry run shows
it; the node only builds it, once per source model and data file, under the output
root (`.labspec/rehearsal/`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from specs.sections import Section
from specs.tasks.base import TaskConfig, task

DataLayout = Literal["text", "pairs", "math", "image_text", "images", "image_classes", "captions", "vqa",
                     "formula", "ladder_task", "lm_eval"]


class RehearsalModel(Section):
    """A model of the same class as `source`, with random weights and the config given."""

    path: str = Field(description="where it is built")
    source: str = Field(description="the model it stands in for")
    architecture: str = Field(description="the transformers class, e.g. Qwen2VLForConditionalGeneration")
    config: dict[str, Any] = Field(description="its config (the source's, width and depth shrunk unless real shapes)")
    tokenizer: Literal["qwen2", "copy", "none"] = Field(description="built here like the source's, copied, or none")
    processor: Literal["none", "qwen2_vl", "clip", "siglip", "dinov2", "sam", "convnext"] = "none"
    files_from: str | None = Field(None, description="a folder holding the source's tokenizer/processor files")
    seed: int = 0


class RehearsalData(Section):
    """A few rows in the layout a reader expects, from the real file when it is on disk."""

    path: str = Field(description="where it is written: a file, or a folder for folder layouts")
    source: str = Field(description="the data it stands in for")
    layout: DataLayout
    format: str = "jsonl"
    fields: dict[str, Any] = Field(default_factory=dict, description="field names, subsets, task name, ...")
    rows: int = Field(32, gt=0)
    from_disk: bool = Field(False, description="take the first rows of `source` (it is on disk)")


@task
class RehearsalAssetsTask(TaskConfig):
    task: ClassVar[str] = "rehearsal_assets"

    models: list[RehearsalModel] = Field(default_factory=list)
    datasets: list[RehearsalData] = Field(default_factory=list)
