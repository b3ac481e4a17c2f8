"""Typed config pieces several kinds hand to the same runtime tasks, built from the
spec's own sections (never from hand-written dicts)."""

from __future__ import annotations

from typing import Any

from specs.base import ExperimentBase
from specs.errors import CompileError
from specs.sections import DataFields, EvaluationSettings, EvaluatorName, ModelSpec
from specs.tasks import DatasetRef, ModelRef, Timeline, VisionPrompt
from specs.tasks.generic import EvaluateTask, EvaluatorOptions


def model(spec: ModelSpec, path: str | None = None) -> ModelRef:
    """A model reference; `path` replaces the weights (e.g. an upstream checkpoint), keeping
    the tokenizer of the model it was trained from."""
    out = ModelRef(**spec.model_dump())
    if path is not None:
        out = out.model_copy(update={"name_or_path": path, "tokenizer": spec.tokenizer or spec.name_or_path})
    return out


def dataset(exp: ExperimentBase, path: str, **fields: Any) -> DatasetRef:
    """A data file read with the spec's data section (format and field names), `fields` changed."""
    names = exp.data.model_dump(include=set(DataFields.model_fields))
    return DatasetRef(path=path, **{**names, **fields})


def produced(path: str, **fields: Any) -> DatasetRef:
    """An upstream task's own JSONL output: its field names are the task's, not the spec's."""
    return DatasetRef(path=path, format="jsonl", **fields)


def evaluation(exp: ExperimentBase, settings: EvaluationSettings, model_ref: ModelRef, data: DatasetRef | None = None,
               evaluator: EvaluatorName = "default", vision: VisionPrompt | None = None,
               options: EvaluatorOptions | None = None, timeline: Timeline | None = None) -> EvaluateTask:
    """The evaluate task: a model, a held-out file (default: evaluation.data, else data.test)."""
    if data is None:
        held_out = settings.data or exp.data.test
        if held_out is None:
            raise CompileError("an evaluation has no held-out file: set data.test or the evaluation's data")
        data = dataset(exp, held_out)
    return EvaluateTask(model=model_ref, data=data, evaluation=settings, evaluator=settings.evaluator or evaluator,
                        vision=vision, options=options, timeline=timeline)


def timeline(step: int, prefix: str, tags: dict[str, str] | None = None) -> Timeline:
    """Where a run's figures go on the experiment's one TensorBoard timeline
    (runtime.core.tb.log_timeline): iterative routes put iteration t at step t + 1."""
    return Timeline(step=step, prefix=prefix, tags=tags)
