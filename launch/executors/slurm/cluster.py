"""What SLURM is like here: whether its controller answers, its partitions and nodes (one
sinfo call, parsed into `Cluster`) and the user's accounts (sacctmgr), and cancelling a job
(saying why when it cannot)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

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


# --- what the cluster has: one sinfo call ------------------------------------------

# One line per node and partition. `-o` prints each field whole when it has no width (`-O`
# pads and cuts every field to 20 characters); `|` appears in none of them. --all: hidden
# partitions take jobs too, and a check must not refuse what sbatch would accept.
SINFO_FIELDS = ("%P", "%N", "%c", "%m", "%G", "%a", "%l", "%T", "%f", "%s")
SINFO = ("sinfo", "--all", "--noheader", "--Node", "--format", "|".join(SINFO_FIELDS))
NO_LIMIT = frozenset({"infinite", "unlimited"})
# node states that take jobs now (a `~` suffix, powered off to save power, still does: SLURM
# powers it up); anything else (down, drained, draining, fail, maint, reserved, ...) waits
USABLE_STATES = frozenset({"idle", "mixed", "allocated", "completing", "planned"})


class ClusterUnreadable(LabspecError):
    """sinfo failed or printed nothing usable: the cluster's limits are not known here."""


@dataclass(frozen=True)
class Node:
    """One node as the cluster declares it (its configured hardware) and its state now."""

    name: str
    cpus: int
    mem_mb: int
    gpus: dict[str, int]  # GPU type ("" when the gres names none) -> count
    features: frozenset[str]
    state: str

    def gpu_count(self, gpu_type: str | None = None) -> int:
        """GPUs of `gpu_type` (any type when None)."""
        return sum(self.gpus.values()) if gpu_type is None else self.gpus.get(gpu_type, 0)

    @property
    def usable(self) -> bool:
        """Whether it takes jobs now: a node not responding (`*`), down, drained or in
        maintenance fits a request on paper but would leave its job waiting."""
        if "*" in self.state:
            return False
        parts = [p.rstrip("~#%!@$^-") for p in self.state.lower().split("+")]
        return all(p in USABLE_STATES for p in parts)


@dataclass
class Partition:
    """A partition and the nodes in it."""

    name: str
    default: bool
    availability: str  # up, down, drain, inact
    max_time_s: int | None  # None: no limit
    max_time_text: str
    max_nodes: int | None  # most nodes one job may have; None: no limit
    nodes: list[Node] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.availability == "up"


@dataclass
class Cluster:
    """What `sinfo` shows: partitions by name, each with its nodes."""

    partitions: dict[str, Partition]

    @property
    def default(self) -> Partition | None:
        return next((p for p in self.partitions.values() if p.default), None)

    def names(self) -> str:
        """The partitions, for a message: the default one first and marked, then by name
        (sinfo's node-oriented output lists them in no stable order)."""
        parts = sorted(self.partitions.values(), key=lambda p: (not p.default, p.name))
        return ", ".join(f"{p.name} (default)" if p.default else p.name for p in parts) or "none"


def read_cluster(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> Cluster:
    """The cluster's partitions and nodes, from one sinfo call (`run`: for tests)."""
    if shutil.which("sinfo") is None:
        raise ClusterUnreadable("sinfo is not installed here")
    if (problem := config_problem()) is not None:
        raise ClusterUnreadable(problem)
    try:
        done = run(list(SINFO), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterUnreadable(f"{shlex.join(SINFO)} failed: {exc}") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[:300]
        raise ClusterUnreadable(f"{shlex.join(SINFO)} failed: {said or f'exit {done.returncode}'}")
    cluster = parse_sinfo(done.stdout)
    if not cluster.partitions:
        raise ClusterUnreadable(f"{shlex.join(SINFO)} printed no partition this check can read "
                                f"({' '.join(done.stdout.split())[:200] or 'nothing'})")
    return cluster


def parse_sinfo(text: str) -> Cluster:
    """Partitions and nodes from `SINFO`'s output; lines it cannot read are left out
    (an empty Cluster when none can be read)."""
    partitions: dict[str, Partition] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != len(SINFO_FIELDS):
            continue
        try:
            part, node = _partition_line(fields), _node_line(fields)
        except ValueError:
            continue
        partitions.setdefault(part.name, part).nodes.append(node)
    return Cluster(partitions)


def _partition_line(fields: list[str]) -> Partition:
    name, avail, limit, size = fields[0], fields[5], fields[6], fields[9]
    if not name.rstrip("*"):
        raise ValueError("no partition name")
    return Partition(name=name.rstrip("*"), default=name.endswith("*"), availability=avail.strip().lower(),
                     max_time_s=slurm_seconds(limit), max_time_text=limit.strip(), max_nodes=_max_nodes(size))


def _node_line(fields: list[str]) -> Node:
    features = fields[8].strip()
    return Node(name=fields[1].strip(), cpus=int(fields[2].rstrip("+")), mem_mb=int(fields[3].rstrip("+")),
                gpus=parse_gres(fields[4]),
                features=frozenset() if features in ("", "(null)") else frozenset(features.split(",")),
                state=fields[7].strip())


def slurm_seconds(text: str) -> int | None:
    """A SLURM time limit as sinfo prints it (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM,
    D-HH:MM:SS) in seconds; None for no limit (infinite, UNLIMITED). ValueError otherwise."""
    text = text.strip().lower()
    if text in NO_LIMIT:
        return None
    days, dash, rest = text.partition("-")
    if not dash:
        days, rest = "0", text
    parts = rest.split(":")
    if not _digits(days) or not 1 <= len(parts) <= 3 or not all(_digits(p) for p in parts):
        raise ValueError(f"not a SLURM time limit: {text!r}")
    nums = [int(p) for p in parts]
    if dash:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = (nums + [0, 0])[:3]
    elif len(nums) == 3:  # HH:MM:SS
        hours, minutes, seconds = nums
    else:  # MM[:SS]
        hours, minutes, seconds = 0, nums[0], nums[1] if len(nums) == 2 else 0
    return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # '²'.isdigit() is True, int('²') fails


def _max_nodes(size: str) -> int | None:
    """The upper end of sinfo's job size in nodes ("1-infinite", "2-4", "4")."""
    high = size.strip().rpartition("-")[2].lower()
    return int(high) if _digits(high) else None


def parse_gres(text: str) -> dict[str, int]:
    """GPUs by type in a node's gres: "gpu:a100:4(S:0-1)" -> {"a100": 4}; "gpu:2" -> {"": 2};
    other resources (mps, shard, ...) and "(null)" -> {}."""
    gpus: dict[str, int] = {}
    for item in re.split(r",(?![^(]*\))", text.strip()):  # commas inside (S:0,1) do not split
        parts = re.sub(r"\(.*\)$", "", item).split(":")
        if parts[0] != "gpu":
            continue
        count = parts[-1] if len(parts) > 1 else "1"
        gpu_type = parts[1] if len(parts) > 2 else ""
        if _digits(count):
            gpus[gpu_type] = gpus.get(gpu_type, 0) + int(count)
    return gpus


# --- what the user may charge: sacctmgr, only when a spec names an account or QOS ----


@dataclass(frozen=True)
class Association:
    """An account the user may charge (on one partition, or all when `partition` is ""),
    with the QOS it allows."""

    account: str
    partition: str
    qos: frozenset[str]


SACCTMGR_FORMAT = "format=Account,Partition,QOS"


def read_associations(user: str, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
                      ) -> list[Association]:
    """The user's associations, from one sacctmgr call; ClusterUnreadable when sacctmgr is
    missing or fails (accounting off, slurmdbd down)."""
    if shutil.which("sacctmgr") is None:
        raise ClusterUnreadable("sacctmgr is not installed here")
    cmd = ["sacctmgr", "--noheader", "--parsable2", "show", "associations", "where", f"user={user}",
           SACCTMGR_FORMAT]
    try:
        done = run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterUnreadable(f"sacctmgr failed: {exc}") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[:300]
        raise ClusterUnreadable(f"sacctmgr failed: {said or f'exit {done.returncode}'}")
    out = []
    for line in done.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) == 3 and fields[0]:
            out.append(Association(fields[0], fields[1], frozenset(q for q in fields[2].split(",") if q)))
    return out


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
