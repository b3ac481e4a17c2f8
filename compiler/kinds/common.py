"""Config pieces several kinds hand to the same runtime tasks."""

from __future__ import annotations

from typing import Any

from compiler.nodes import Ref
from specs.base import ExperimentBase
from specs.sections import EvaluationSettings, ModelSpec


def model(spec: ModelSpec, path: str | Ref | None = None) -> dict[str, Any]:
    """A model section for a task; `path` replaces the weights (e.g. an upstream checkpoint)."""
    out = spec.model_dump(mode="json")
    if path is not None:
        out["name_or_path"] = path
        out["tokenizer"] = spec.tokenizer or spec.name_or_path
    return out


def data(exp: ExperimentBase) -> dict[str, Any]:
    return exp.data.model_dump(mode="json")


def evaluation(exp: ExperimentBase, settings: EvaluationSettings, model_cfg: dict[str, Any],
               data_path: str | Ref | None = None, **extra: Any) -> dict[str, Any]:
    """The `evaluate` task's config: a model, a held-out file, metrics and generation."""
    return {
        "model": model_cfg,
        "data": data_path if data_path is not None else (settings.data or exp.data.test),
        "fields": data(exp),
        "evaluation": settings.model_dump(mode="json"),
        **extra,
    }


def timeline(step: int, prefix: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Where a run's figures go on the experiment's one TensorBoard timeline
    (runtime.tb.log_timeline): iterative routes put iteration t at step t + 1."""
    return {"step": step, "prefix": prefix, "tags": tags}
