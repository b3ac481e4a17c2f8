"""Finishing a run, in one call: metrics.json (with its primary metric), the final figures
in TensorBoard, and the run's place on the experiment's timeline."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtime.core.io import atomic_write_json
from runtime.core.tb import log_final, log_timeline
from specs.tasks import RunConfig


def finish(run: RunConfig, summary: Mapping[str, Any], primary: str | None, tb_prefix: str = "", step: int = 0,
           timeline: bool = True) -> None:
    """Record what the run measured. `tb_prefix` groups its scalars in TensorBoard (e.g.
    "eval/"); `step` is where they go on its own axis (a trainer's last step)."""
    atomic_write_json(Path(run.outputs["metrics"]), {"primary_metric": primary, **summary})
    log_final(run, {f"{tb_prefix}{k}": v for k, v in summary.items()}, step=step)
    if timeline:
        log_timeline(run, summary)
