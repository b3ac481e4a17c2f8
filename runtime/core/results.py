"""Finishing a run, in one call: metrics.json (with its primary metric), the final figures
in TensorBoard (its own tb/ and its HParams rows), and its place on the experiment's
timeline."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtime.core.io import atomic_write_json
from runtime.core.tb import log_final, log_timeline
from specs.tasks import RunConfig

TRAINED = "labspec_trained.json"  # in a trained model's folder: the optimizer steps that made it


def finish(run: RunConfig, summary: Mapping[str, Any], primary: str | None, tb_prefix: str | None = "",
           step: int | None = None, timeline: bool = True) -> None:
    """Record what the run measured. `tb_prefix` groups its figures in its own tb/ ("" : by
    its role; None: not there at all); `step` is where they go on its axis (None: the step
    of the model it describes, `model_step`)."""
    atomic_write_json(Path(run.outputs["metrics"]), {"primary_metric": primary, **summary})
    group = None if tb_prefix is None else (tb_prefix or f"{run.coordinates.role}/")
    log_final(run, summary, group, step=model_step(run) if step is None else step)
    if timeline:
        log_timeline(run, summary)


def model_step(run: RunConfig) -> int:
    """Where a run's figures belong on a step axis: the model's index in an iterative route
    (0 = the start, t + 1 after iteration t), else the training steps of the trained model
    it reads, so an evaluation sits at the end of its training curve; else 0."""
    if run.coordinates.model_index is not None:
        return run.coordinates.model_index
    model = getattr(run.task_config, "model", None)
    path = getattr(model, "name_or_path", None)
    if isinstance(path, str):
        try:
            found = json.loads(Path(run.base_dir, path, TRAINED).read_text())
            return int(found["global_step"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return 0


def mark_trained(model_dir: str, global_step: int) -> None:
    atomic_write_json(Path(model_dir, TRAINED), {"global_step": global_step})
