"""Executors: where a plan's runs go. Typed objects, chosen on the command line.

- `SlurmExecutor`: submitit. One job (an array when several tasks) per submission unit
  (`launch.units`), SLURM dependencies between units, one task per node; the batch
  script is the one submitit renders, and `script()` returns it byte for byte for the
  dry run.
- `LocalExecutor`: this machine, in dependency order, with the same run dirs, scripts
  and ledger. The embedded default when there is no SLURM.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launch.units import Unit
from specs.errors import LabspecError


class SlurmUnavailable(LabspecError):
    """SLURM's commands are missing or its controller does not answer."""


class SubmissionError(LabspecError):
    """sbatch refused a job (bad partition, account, ...)."""


def signal_delay(time_min: int) -> int:
    """Seconds of warning (SIGUSR2) before the time limit: enough to save a checkpoint."""
    return 90 if time_min >= 10 else 30


def slurm_problem() -> str | None:
    """None when SLURM's controller answers here; else what is wrong ("not installed" when
    its commands are missing)."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "not installed"
    try:
        done = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scontrol ping failed: {exc}"
    if done.returncode == 0:
        return None
    said = " ".join((done.stderr or done.stdout).split())[:200]
    return f"scontrol ping failed ({said or f'exit {done.returncode}'})"


def choose(executor: str) -> str:
    """"slurm" or "local" for --executor. `auto` takes this machine only where SLURM is not
    installed: a login node whose controller is briefly unreachable (or whose SLURM_CONF
    is wrong) must not start a grid meant for the cluster on itself."""
    if executor == "local":
        return "local"
    problem = slurm_problem()
    if problem is None:
        return "slurm"
    if executor == "auto" and problem == "not installed":
        return "local"
    if problem == "not installed":
        raise SlurmUnavailable("SLURM is not reachable here (no sbatch/scontrol on PATH); "
                               "use --executor local to run on this machine")
    raise SlurmUnavailable(f"SLURM is installed here but does not answer: {problem}. Nothing was launched; "
                           "try again when the controller answers (check SLURM_CONF), or pass --executor local "
                           "to run on this machine instead")


@dataclass
class SlurmExecutor:
    array_parallelism: int = 64
    hold: bool = False
    python: str = sys.executable

    name = "slurm"

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

    def submit(self, unit: Unit, folder: Path, params: dict[str, Any]) -> list[str]:
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


def check_partitions(partitions: set[str]) -> None:
    """Refuse partitions the cluster does not have, before submitting anything."""
    if not partitions:
        return
    out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=30, check=False)
    known = set(out.stdout.split())
    missing = sorted(partitions - known)
    if out.returncode == 0 and missing:
        raise SubmissionError(
            f"partition(s) {', '.join(missing)} do not exist on this cluster (it has: "
            f"{', '.join(sorted(known)) or 'none'}); set resources.partition in the spec")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalExecutor:
    name = "local"
