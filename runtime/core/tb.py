"""TensorBoard records every task writes beside what the trainers log themselves: final
metrics as scalars, and an HParams record of the run's swept values, so TensorBoard's
HParams tab compares the points of a grid; and the experiment's one timeline, where
iterative routes put every iteration's figures on one axis."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from specs.tasks import RunConfig


def scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers among `values` (booleans are not numbers)."""
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)}


def log_final(run: RunConfig, values: Mapping[str, Any], step: int = 0) -> None:
    if not run.tensorboard.enabled:
        return
    from torch.utils.tensorboard import SummaryWriter

    clean = scalars(values)
    writer = SummaryWriter(run.tensorboard.log_dir)
    for key, value in clean.items():
        writer.add_scalar(key, value, step)
    if run.tensorboard.log_hparams:
        hparams = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in run.axes.items()}
        hparams.setdefault("stage", run.stage)
        writer.add_hparams(hparams, {f"hparam/{k}": v for k, v in clean.items()}, run_name=".")
    writer.close()


def log_timeline(run: RunConfig, values: Mapping[str, Any]) -> None:
    """Scalars on the experiment's shared timeline (`<experiment>/timeline`, one TensorBoard
    run that several runs write to in turn), at the step the compiler gave this run: with
    `tags`, only those, renamed; without, every scalar, prefixed."""
    spec = run.task_config.timeline
    if spec is None or not run.tensorboard.enabled:
        return
    from torch.utils.tensorboard import SummaryWriter

    chosen = {(spec.tags[k] if spec.tags else k): v for k, v in scalars(values).items()
              if spec.tags is None or k in spec.tags}
    writer = SummaryWriter(str(Path(run.run_dir).parent / "timeline"), filename_suffix=f".{run.run_id}")
    for key, value in chosen.items():
        writer.add_scalar(spec.prefix + key, value, spec.step)
    writer.close()
