"""The folder TensorBoard reads for an experiment (`<output root>/.labspec/tb/<experiment>`):
one link per run to its tb/, under the run's name, and links to the experiment's shared
folders, the timeline (iterative routes' figures on one axis) and hparams (one HParams row
per grid point, `runtime.core.tb`).

Every launch brings it up to date, and the shared folders exist from the first launch on,
so a `labspec tb` started early shows runs, timelines and rows as they appear: TensorBoard
rescans its logdir, it only never learns of a folder that nobody links."""

from __future__ import annotations

from pathlib import Path

from launch.ledger import RunRecord
from specs.layout import HPARAMS_DIR, LABSPEC_DIR, TIMELINE_DIR

SHARED = (TIMELINE_DIR, HPARAMS_DIR)  # written by several runs of an experiment, beside its run dirs


def farm_dir(output_root: str | Path, experiment: str) -> Path:
    return Path(output_root, LABSPEC_DIR, "tb", experiment)


def link_names(runs: list[RunRecord]) -> dict[str, str]:
    """A TensorBoard run name per run: its name, with its id when two runs share a name
    (after an override relaunch), never a path separator."""
    names = [r.name for r in runs]
    return {r.id: (r.name if names.count(r.name) == 1 else f"{r.name}-{r.id}").replace("/", "_") for r in runs}


def farm(runs: list[RunRecord], where: Path) -> Path:
    """Links, one per run to its tb/ and one per shared folder, which TensorBoard reads as
    its logdir: any name and any path (commas, colons) work, unlike --logdir_spec, and
    stale links of an earlier call are replaced."""
    if where.is_dir():
        for old in where.iterdir():
            if old.is_symlink():
                old.unlink()
    where.mkdir(parents=True, exist_ok=True)
    by_id = {r.id: r for r in runs}
    for run_id, name in link_names(runs).items():
        (where / name).symlink_to(Path(by_id[run_id].run_dir, "tb"), target_is_directory=True)
    parents = sorted({Path(r.run_dir).parent for r in runs})
    for parent in parents:
        for shared in SHARED:
            (parent / shared).mkdir(parents=True, exist_ok=True)
            name = shared if len(parents) == 1 else f"{shared}-{parent.name}"
            (where / name).symlink_to(parent / shared, target_is_directory=True)
    return where
