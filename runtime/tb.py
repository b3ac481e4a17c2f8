"""TensorBoard records every task writes beside what the trainers log themselves: final
metrics as scalars, and an HParams record of the run's swept values, so TensorBoard's
HParams tab compares the points of a grid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def log_final(config: dict[str, Any], scalars: dict[str, float], step: int = 0) -> None:
    if not config["tensorboard"]["enabled"]:
        return
    from torch.utils.tensorboard import SummaryWriter

    clean = {k: float(v) for k, v in scalars.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)}
    writer = SummaryWriter(config["tensorboard"]["log_dir"])
    for key, value in clean.items():
        writer.add_scalar(key, value, step)
    if config["tensorboard"].get("log_hparams"):
        hparams = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                   for k, v in (config.get("axes") or {}).items()}
        hparams.setdefault("stage", config.get("stage", ""))
        writer.add_hparams(hparams, {f"hparam/{k}": v for k, v in clean.items()}, run_name=".")
    writer.close()


def log_timeline(config: dict[str, Any], scalars: dict[str, Any]) -> None:
    """Scalars on the experiment's shared timeline (`<experiment>/timeline`, one TensorBoard
    run that several runs write to in turn), at the step the compiler gave this run: an
    iterative route (SPIN, STaR) puts every iteration's figures on one axis. The task
    config's `timeline` says {"step": n, "prefix": "spin/", "tags": {"name": "new name"}}
    (with tags: only those, renamed; without: every scalar, prefixed)."""
    spec = config.get("task_config", {}).get("timeline")
    if not spec or not config["tensorboard"]["enabled"]:
        return
    from torch.utils.tensorboard import SummaryWriter

    tags: dict[str, str] | None = spec.get("tags")
    chosen = {(tags[k] if tags else k): v for k, v in scalars.items() if tags is None or k in tags}
    writer = SummaryWriter(str(Path(config["run_dir"]).parent / "timeline"), filename_suffix=f".{config['run_id']}")
    for key, value in chosen.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            writer.add_scalar(spec.get("prefix", "") + key, float(value), int(spec["step"]))
    writer.close()
