"""Executors: where a plan's runs go, typed objects behind one interface (`base.Executor`),
chosen on the command line; each backend lives in one place.

- `slurm.SlurmExecutor`: submitit jobs and arrays with SLURM dependencies.
- `local.LocalExecutor`: this machine, in dependency order, as many runs at once as its
  GPUs, CPUs and memory hold (`machine`), with the same run dirs, scripts and ledger. The
  embedded default where SLURM is not installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launch.executors.base import Executor

if TYPE_CHECKING:
    from launch.ledger import RunRecord

__all__ = ["Executor", "choose", "for_record"]


def choose(name: str, array_parallelism: int = 64, hold: bool = False, jobs: int | None = None,
           preflight: bool = True) -> Executor:
    """The executor for `--executor NAME` (auto: SLURM when it is installed and answers).
    `jobs`: the local executor's most runs at once; `preflight=False`: SLURM submits
    without checking the runs against the cluster's partitions first."""
    from launch.executors.local import LocalExecutor
    from launch.executors.slurm import SlurmExecutor
    from launch.executors.slurm.cluster import choose_backend
    from launch.executors.slurm.preflight import Preflight

    if choose_backend(name) == "slurm":
        return SlurmExecutor(array_parallelism=array_parallelism, hold=hold,
                             preflight=Preflight() if preflight else None)
    return LocalExecutor(jobs=jobs)


def for_record(rec: RunRecord) -> Executor:
    """The executor a recorded run went to (to cancel it)."""
    from launch.executors.local import LocalExecutor
    from launch.executors.slurm import SlurmExecutor

    return SlurmExecutor() if rec.executor == "slurm" else LocalExecutor()
