"""What SLURM is like here: whether its controller answers, which partitions it has, and
cancelling a job (saying why when it cannot)."""

from __future__ import annotations

import os
import shutil
import subprocess

from specs.errors import LabspecError


class SlurmUnavailable(LabspecError):
    """SLURM's commands are missing or its controller does not answer."""


class CancelError(LabspecError):
    """scancel could not cancel a job."""


class SubmissionError(LabspecError):
    """sbatch refused a job (bad partition, account, ...)."""


def signal_delay(time_min: int) -> int:
    """Seconds of warning (SIGUSR2) before the time limit: enough to save a checkpoint."""
    return 90 if time_min >= 10 else 30


def config_problem() -> str | None:
    """SLURM_CONF naming a missing file: SLURM's commands would spend a minute each looking
    for a configuration elsewhere before they fail."""
    conf = os.environ.get("SLURM_CONF")
    if conf and not os.path.isfile(conf):
        return f"SLURM_CONF names {conf}, which does not exist"
    return None


def slurm_problem() -> str | None:
    """None when SLURM's controller answers here; else what is wrong ("not installed" when
    its commands are missing)."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "not installed"
    if (problem := config_problem()) is not None:
        return problem
    try:
        done = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scontrol ping failed: {exc}"
    if done.returncode == 0:
        return None
    said = " ".join((done.stderr or done.stdout).split())[:200]
    return f"scontrol ping failed ({said or f'exit {done.returncode}'})"


def choose_backend(executor: str) -> str:
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


def scancel(job_id: str) -> None:
    """Cancel a SLURM job, or say why it could not be (nothing else is changed then)."""
    if (problem := config_problem()) is not None:
        raise CancelError(f"could not cancel job {job_id}: {problem}; nothing was changed for it")
    try:
        done = subprocess.run(["scancel", job_id], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CancelError(f"could not cancel job {job_id} ({exc}); nothing was changed for it") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[:200]
        raise CancelError(f"could not cancel job {job_id}: scancel said {said or f'exit {done.returncode}'}; "
                           "nothing was changed for it (is SLURM reachable?)")
