"""The SLURM executor (submitit): one job, an array when several tasks, per submission unit
(`arrays`), SLURM dependencies between units, one task per node; the batch script is the
one submitit renders, and the dry run shows it byte for byte. Every piece of SLURM lives
in this package: what the cluster is (`cluster`), whether a plan fits it before anything
is submitted (`preflight`), submitting (`jobs`), completing an interrupted submission
(`recovery`), and reading accounting (`accounting`).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from launch.executors.base import Executor
from launch.executors.slurm import jobs, recovery
from launch.executors.slurm.arrays import Unit
from launch.executors.slurm.cluster import CancelError, SubmissionError, scancel
from launch.executors.slurm.preflight import Preflight, Request
from launch.ledger import Ledger, RunRecord

if TYPE_CHECKING:
    from compiler.plan import Plan, Run
    from launch.launcher import Selection
    from specs.loader import LoadedSpec

Log = Callable[[str], None]


def signal_delay(time_min: int) -> int:
    """Seconds of warning (SIGUSR2) before the time limit: enough to save a checkpoint."""
    return 90 if time_min >= 10 else 30


@dataclass
class SlurmExecutor(Executor):
    array_parallelism: int = 64
    hold: bool = False
    python: str = sys.executable
    preflight: Preflight | None = field(default_factory=Preflight)  # None: --no-preflight

    name: ClassVar[str] = "slurm"

    def parameters(self, unit: Unit, experiment: str, token: str, dependency: str | None) -> dict[str, Any]:
        res = unit.runs[0].resources
        params: dict[str, Any] = {
            "job_name": f"{experiment}.{unit.stage}.{token}",
            "time": res["time_min"],
            "nodes": res["nodes"],
            "ntasks_per_node": 1,  # the launcher starts the processes of its node
            "cpus_per_task": res["cpus_per_task"],
            "array_parallelism": self.array_parallelism,
            "signal_delay_s": signal_delay(res["time_min"]),
        }
        if res["gpus_per_node"]:
            params["gpus_per_node"] = res["gpus_per_node"]
        if res["mem_mb"]:
            params["mem"] = f"{res['mem_mb']}M"
        for key in ("partition", "account", "qos", "constraint"):
            if res[key]:
                params[key] = res[key]
        if dependency:
            params["dependency"] = dependency
        extra = {k: (True if v == "" else v) for k, v in res["sbatch_extra"].items()}
        if self.hold:
            extra["hold"] = True
        if extra:
            params["additional_parameters"] = extra
        return params

    def request(self, unit: Unit) -> Request:
        """What sbatch would be asked for `unit`, for the preflight check."""
        return Request.of(self.parameters(unit, "preflight", "preflight", None))

    def check_fit(self, runs: list[Run], loaded: LoadedSpec | None, log: Log) -> list[str]:
        """Refuse runs the cluster cannot take, before any is submitted (`preflight`; one sinfo
        call per executor, i.e. per launch); the lines saying where they fit. `loaded`: the
        spec, to cite its lines. Nothing is checked with --no-preflight."""
        if self.preflight is None:
            return []
        return self.preflight.require(runs, loaded, self.request, log)

    def _executor(self, folder: Path, params: dict[str, Any], dry: bool = False) -> Any:
        import submitit

        cls = _DryExecutor() if dry else submitit.SlurmExecutor
        ex = cls(folder=folder, python=shlex.quote(self.python))
        ex.update_parameters(**params)
        return ex

    def script(self, unit: Unit, folder: Path, params: dict[str, Any]) -> str:
        """The batch script submitit will write for this unit, byte for byte."""
        ex = self._executor(folder, params, dry=True)
        if unit.is_array:
            ex.parameters["map_count"] = len(unit.tasks)
        text: str = ex._make_submission_file_text(ex._submitit_command_str, "dry-run")
        return text

    def submit_unit(self, unit: Unit, folder: Path, params: dict[str, Any]) -> list[str]:
        """Submit; return the job id of every task ("123" or "123_4"), in task order."""
        from launch.job import RunTask

        ex = self._executor(folder, params)
        grace = max(params["signal_delay_s"] - 10, 5)  # stop and save before SLURM's kill
        try:
            with ex.batch():
                jobs = [ex.submit(RunTask(run.run_dir, shard, run.shards, grace)) for run, shard in unit.tasks]
        except Exception as exc:  # submitit wraps sbatch's refusal in several exception types
            raise SubmissionError(f"sbatch refused {unit.stage} ({len(unit.tasks)} tasks): "
                                  f"{_sbatch_reason(exc)}") from None
        return [str(j.job_id) for j in jobs]

    # --- the executor interface ---------------------------------------------------------

    def reconcile(self, ledger: Ledger, log: Log) -> None:
        recovery.reconcile(ledger, log)

    def dry_run(self, plan: Plan, ledger: Ledger, sel: Selection) -> str:
        return jobs.dry_run_scripts(plan, ledger, self, sel)

    def submit(self, plan: Plan, ledger: Ledger, sel: Selection, log: Log) -> None:
        # `labspec launch` has checked these runs with the spec's lines: this check, on the
        # same sinfo reading, is for callers that have no spec (a --rerun)
        self.check_fit(sel.submit, None, log)
        jobs.submit_plan(plan, ledger, self, sel, log)

    def cancel(self, rec: RunRecord, log: Log | None = None, quiet: bool = False) -> bool:
        if not rec.job_id:
            return True
        try:
            scancel(rec.job_id)
        except CancelError:
            if quiet:
                return False
            raise
        return True


def _DryExecutor() -> Any:
    import submitit

    class DryRunSlurmExecutor(submitit.SlurmExecutor):
        """Renders what submitit would submit, also where SLURM is not installed."""

        @classmethod
        def affinity(cls) -> int:
            return 2

    return DryRunSlurmExecutor


def _sbatch_reason(exc: Exception) -> str:
    text = str(exc)
    for line in text.splitlines():
        if "sbatch: error" in line:
            return line.split("sbatch: error:", 1)[-1].strip()
    return text.strip().splitlines()[-1] if text.strip() else type(exc).__name__
