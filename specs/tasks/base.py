"""The compiler -> runtime contract: what a run.json holds, as typed models.

`RunConfig` is a run.json: where the run lives, its place in the experiment
(`Coordinates`), the shared sections (training, PEFT, TensorBoard) and its
`task_config`, one `TaskConfig` subclass per runtime task (`specs.tasks.<kind>`), chosen
by the run's `task`. The compiler builds these models from the spec's own sections and
writes them; the runtime validates run.json against the same models before it loads a
single weight, so a bad config fails first, and every default lives in one place: the
spec sections these models reuse.

Models, datasets and generation settings have their own field types (`ModelRef`,
`DatasetRef`, `GenerationSettings`), so a later step (a rehearsal, a code snapshot) can
find every model and data file of any run without knowing its task (`references`).

Torch-free, like the rest of `specs/`: the login node builds these.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, JsonValue, SerializeAsAny, model_validator

from specs.sections import (
    DataFields,
    GenerationSettings,
    ModelSpec,
    PeftSpec,
    Section,
    TensorBoardSpec,
    TrainingSpec,
)

CONFIG_FORMAT = 2  # run.json's layout; a change here changes run ids (the README says when)
MODEL_DIR = "checkpoints/final"
METRICS = "outputs/metrics.json"


class ModelRef(ModelSpec):
    """A model a task loads: a hub id, a local folder, or an upstream run's checkpoint
    (with the tokenizer of the model it was trained from)."""


class DatasetRef(DataFields):
    """A data file a task reads (or an upstream run's output), with the spec's format and
    field names."""

    path: str = Field(min_length=1)


class VisionPrompt(Section):
    """Image + prompt rows for a vision-language model: which fields hold the image, the
    prompt (or one fixed prompt for every image) and the answer."""

    image_field: str = "image"
    prompt_field: str | None = None
    answer_field: str = "answer"
    prompt: str | None = Field(None, description="the same prompt for every image, when rows have none")


class Timeline(Section):
    """Where a run's figures go on the experiment's one TensorBoard timeline: iterative
    routes put iteration t's figures at step t + 1 (0 = the starting model)."""

    step: int = Field(ge=0)
    prefix: str
    tags: dict[str, str] | None = Field(None, description="only these figures, renamed; None: all, prefixed")


class Coordinates(Section):
    """A run's place in its experiment, recorded by the compiler so that reports group
    runs by what they are, never by parsing their names."""

    point: dict[str, JsonValue] = Field(default_factory=dict, description="the swept values of its grid point")
    role: str = Field(description="what the run does in its route, e.g. train, evaluate, generate, pairs")
    iteration: int | None = Field(None, description="iterative routes: the iteration t (model t -> model t+1)")
    model_index: int | None = Field(None, description="the model it works on, 0 = the start, t + 1 after iteration t")
    variant: str | None = Field(None, description="radio: the encoder variant")
    model: str | None = Field(None, description="size ladder: the model's name")
    size: int | None = Field(None, description="size ladder: the model's parameters")
    intervention: str | None = Field(None, description="size ladder: the intervention")
    split: str | None = Field(None, description="evaluations: the split evaluated (train, test)")


class TaskConfig(Section):
    """Base of every task's config: `task` names the runtime task, `outputs` the files it
    writes (relative to its run dir), which later stages may name before anything runs."""

    task: ClassVar[str] = ""
    outputs: ClassVar[dict[str, str]] = {}

    timeline: Timeline | None = None

    @classmethod
    def all_outputs(cls) -> dict[str, str]:
        return {"metrics": METRICS, **cls.outputs}


TASK_CONFIGS: dict[str, type[TaskConfig]] = {}
T = TypeVar("T", bound=TaskConfig)


def task(cls: type[T]) -> type[T]:
    """Register a task's config class under its task name."""
    if not cls.task or cls.task in TASK_CONFIGS:
        raise ValueError(f"task config {cls.__name__}: a unique `task` name is needed, not {cls.task!r}")
    TASK_CONFIGS[cls.task] = cls
    return cls


class HParamsSession(Section):
    """One row of TensorBoard's HParams table (`<experiment>/hparams/<name>`): a grid point,
    and in iterative routes one model of it. Every run of the point writes its final figures
    there, so the row joins all its stages."""

    name: str = Field(min_length=1, description="its folder under the experiment's hparams/")
    hparams: dict[str, JsonValue] = Field(description="the swept keys that vary, and `model` in iterative routes")


class TensorBoardConfig(TensorBoardSpec):
    log_dir: str
    sessions: list[HParamsSession] = Field(
        default_factory=list, description="the HParams rows the run's final figures join (a shared run: several)")
    metric_prefix: str = Field("", description="its figures' names in those rows: its stage (or role) and '/'")


class RunConfig(Section):
    """A run.json: everything the runtime needs to run one run, and nothing else."""

    format: int = CONFIG_FORMAT
    labspec_version: str
    experiment: str
    kind: str
    run_id: str
    run_name: str
    stage: str
    stage_type: str
    task: str
    run_dir: str
    base_dir: str = Field(description="relative paths in the task config are relative to this")
    seed: int = 0
    axes: dict[str, JsonValue] = Field(default_factory=dict)
    coordinates: Coordinates
    depends_on: list[str] = Field(default_factory=list)
    world_size: int = 1
    shards: int = 1
    task_config: SerializeAsAny[TaskConfig]
    training: TrainingSpec | None = None
    peft: PeftSpec | None = None
    deepspeed_config: str | None = None
    tensorboard: TensorBoardConfig
    outputs: dict[str, str]
    paths: dict[str, str]

    @model_validator(mode="before")
    @classmethod
    def _task_config_of_its_task(cls, data: Any) -> Any:
        return as_named(data, "task_config", "task", TASK_CONFIGS, "task")

    def config(self, cls: type[T]) -> T:
        """The task config, as the class the task expects."""
        if not isinstance(self.task_config, cls):
            raise TypeError(f"run {self.run_id} is a {self.task!r} run, not {cls.task!r}")
        return self.task_config

    def output(self, name: str) -> str:
        return self.outputs[name]


def as_named(data: Any, field: str, key: str, classes: Mapping[str, type[BaseModel]], what: str,
             default: str | None = None) -> Any:
    """`data` (a raw mapping) with its `field` validated as the class its `key` names: a
    run.json's task config by its task, an evaluation's options by its evaluator."""
    if isinstance(data, dict) and isinstance(data.get(field), dict):
        name = str(data.get(key, default))
        found = classes.get(name)
        if found is None:
            raise ValueError(f"no {what} {name!r} takes a {field} (known: {', '.join(sorted(classes))})")
        data = {**data, field: found.model_validate(data[field])}
    return data


def references(model: BaseModel) -> Iterator[tuple[str, BaseModel]]:
    """Every model, dataset and generation setting in a config, with its dotted path. A
    model is any section with a `name_or_path` (a `ModelRef`, a radio teacher)."""
    yield from _walk(model, "")


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, (DatasetRef, GenerationSettings)) or (
            isinstance(value, BaseModel) and "name_or_path" in type(value).model_fields):
        yield path, value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
