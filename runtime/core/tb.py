"""TensorBoard records every task writes beside what the trainers log themselves.

- A run's own final figures, in its `tb/`, at the step of the model they describe, under
  groups that start with `~` (`~eval/exact_match`). TensorBoard sorts groups by name and
  opens the first two, so the trainers' `train/` curves and the route's timeline come
  first; single points sort last.
- Its rows of TensorBoard's HParams table (`HParamsSession`, from the compiler): every run
  of a grid point writes its final figures into the point's session folder
  (`<experiment>/hparams/<session>`, one event file per run), so one row joins the point's
  stages. No experiment summary is written: TensorBoard then builds the table's columns
  from every session on each request, so a run that finishes late still adds its column,
  and only the keys that vary (the compiler's choice) are hyperparameters.
- The experiment's one timeline, where iterative routes put every iteration's figures on
  one axis.

TensorBoard's own protos and event writer only: the session records need no torch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from specs.layout import HPARAMS_DIR, TIMELINE_DIR
from specs.tasks import RunConfig
from specs.tasks.base import HParamsSession

SINGLE = "~"  # the group prefix of single-point figures: after every letter in TensorBoard's order
NOT_IN_ROWS = ("epoch", "total_flos", "num_tokens", "train_steps_per_second", "samples")  # bookkeeping, not comparisons


def scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers among `values` (booleans are not numbers)."""
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def hparams_dir(run: RunConfig) -> Path:
    return Path(run.run_dir).parent / HPARAMS_DIR


def timeline_dir(run: RunConfig) -> Path:
    return Path(run.run_dir).parent / TIMELINE_DIR


def log_final(run: RunConfig, summary: Mapping[str, Any], group: str | None, step: int = 0) -> None:
    """The run's final figures: in its own tb/ under `~<group>` at `step` (None: not there,
    e.g. a trainer's, whose curves already end there), and in its HParams rows."""
    if not run.tensorboard.enabled:
        return
    clean = scalars(summary)
    if group is not None:
        write_scalars(Path(run.tensorboard.log_dir), {f"{SINGLE}{group}{k}": v for k, v in clean.items()}, step,
                      suffix="final")
    if run.tensorboard.log_hparams:
        for session in run.tensorboard.sessions:
            log_session(hparams_dir(run) / session.name, session, run.run_id,
                        {f"{SINGLE}{run.tensorboard.metric_prefix}{k}": v for k, v in clean.items()
                         if k not in NOT_IN_ROWS})


def log_session(where: Path, session: HParamsSession, run_id: str, metrics: Mapping[str, float]) -> None:
    """One run's part of an HParams row: the row's start record (the same from every run of
    it, so any one is enough) and the run's figures as scalars at step 0."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionStartInfo(group_name=session.name, start_time_secs=time.time())
    for key, value in session.hparams.items():
        if isinstance(value, bool):
            info.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[key].number_value = float(value)
        else:
            info.hparams[key].string_value = value if isinstance(value, str) else str(value)
    content = plugin_data_pb2.HParamsPluginData(session_start_info=info, version=metadata.PLUGIN_DATA_VERSION)
    start = Summary(value=[Summary.Value(tag=metadata.SESSION_START_INFO_TAG,
                                         metadata=metadata.create_summary_metadata(content))])
    write_scalars(where, metrics, 0, suffix=run_id, first=start)


def write_scalars(where: Path, values: Mapping[str, float], step: int, suffix: str, first: Any = None) -> None:
    """An event file of its own under `where` (several runs share a folder, each writes
    its own file, nothing is appended to another's) holding `first` and the scalars."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    if not values and first is None:
        return
    where.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(where), filename_suffix=f".{suffix}")
    now = time.time()
    if first is not None:
        writer.add_event(Event(wall_time=now, step=step, summary=first))
    for key, value in values.items():
        writer.add_event(Event(wall_time=now, step=step, summary=Summary(value=[
            Summary.Value(tag=key, simple_value=value)])))
    writer.close()


def log_timeline(run: RunConfig, values: Mapping[str, Any]) -> None:
    """Scalars on the experiment's shared timeline (`<experiment>/timeline`, one TensorBoard
    run that several runs write to in turn), at the step the compiler gave this run: with
    `tags`, only those, renamed; without, every scalar, prefixed."""
    spec = run.task_config.timeline
    if spec is None or not run.tensorboard.enabled:
        return
    chosen = {spec.prefix + (spec.tags[k] if spec.tags else k): v for k, v in scalars(values).items()
              if spec.tags is None or k in spec.tags}
    write_scalars(timeline_dir(run), chosen, spec.step, suffix=run.run_id)
