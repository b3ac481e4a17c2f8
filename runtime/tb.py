"""TensorBoard records every task writes beside what the trainers log themselves: final
metrics as scalars, and an HParams record of the run's swept values, so TensorBoard's
HParams tab compares the points of a grid."""

from __future__ import annotations

import math
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
