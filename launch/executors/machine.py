"""What this machine holds and what a run asks of it, for the local executor's packing:
GPUs handed out as disjoint sets of device ids, CPUs and memory counted as SLURM counts
them for one node (`resources.cpus_per_task` is the CPUs of a run's one task per node,
shared by its processes; `resources.mem` its memory).

No torch here: GPUs are read from CUDA_VISIBLE_DEVICES when it is set (the devices this
machine lends us), else from `nvidia-smi -L`."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specs.errors import LabspecError


@dataclass(frozen=True)
class Machine:
    cpus: int
    mem_mb: int | None  # None: unknown (memory is then not counted)
    gpus: tuple[str, ...]  # device ids, as CUDA_VISIBLE_DEVICES names them

    @classmethod
    def here(cls) -> Machine:
        return cls(cpus=len(os.sched_getaffinity(0)), mem_mb=_mem_total_mb(), gpus=_gpu_ids())

    def describe(self) -> str:
        mem = f", {self.mem_mb / 1024:.0f} GiB" if self.mem_mb else ""
        return f"{self.cpus} CPUs{mem}, {len(self.gpus)} GPUs" + (f" ({','.join(self.gpus)})" if self.gpus else "")


@dataclass(frozen=True)
class Need:
    """What one run holds while it runs here."""

    cpus: int
    mem_mb: int
    gpus: int
    procs: int

    @classmethod
    def of(cls, resources: Mapping[str, Any]) -> Need:
        nodes = int(resources.get("nodes") or 1)  # a multi-node run runs its nodes' work here, side by side
        procs = int(resources.get("procs_per_node") or 1) * nodes
        cpus = max(int(resources.get("cpus_per_task") or 1) * nodes, procs)  # at least a CPU per process
        return cls(cpus=cpus, mem_mb=int(resources.get("mem_mb") or 0) * nodes,
                   gpus=int(resources.get("gpus_per_node") or 0) * nodes, procs=procs)

    def threads(self) -> int:
        """OMP/MKL threads per process: its CPUs shared by its processes, as on SLURM."""
        return max(1, self.cpus // self.procs)


def too_big(need: Need, machine: Machine) -> list[str]:
    """What a run asks beyond the whole machine (it could never start here), in figures."""
    out = []
    if need.gpus > len(machine.gpus):
        out.append(f"{need.gpus} GPUs, this machine has {len(machine.gpus)}"
                   + (" (CUDA_VISIBLE_DEVICES)" if "CUDA_VISIBLE_DEVICES" in os.environ else ""))
    if need.cpus > machine.cpus:
        out.append(f"{need.cpus} CPUs, this machine has {machine.cpus}")
    if machine.mem_mb is not None and need.mem_mb > machine.mem_mb:
        out.append(f"{need.mem_mb / 1024:.1f} GiB of memory, this machine has {machine.mem_mb / 1024:.1f} GiB")
    return out


@dataclass
class Pool:
    """The machine's free share while runs come and go."""

    machine: Machine
    cpus: int = 0
    mem_mb: int = 0
    free_gpus: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cpus = self.machine.cpus
        self.mem_mb = self.machine.mem_mb or 0
        self.free_gpus = list(self.machine.gpus)

    def fits(self, need: Need) -> bool:
        mem_ok = self.machine.mem_mb is None or need.mem_mb <= self.mem_mb
        return need.cpus <= self.cpus and mem_ok and need.gpus <= len(self.free_gpus)

    def take(self, need: Need) -> tuple[str, ...]:
        """Hold `need`; the GPU ids it gets (the lowest free ones)."""
        if not self.fits(need):
            raise LabspecError(f"internal: {need} does not fit what is free ({self})")
        gpus = tuple(sorted(self.free_gpus, key=_device_order)[:need.gpus])
        self.free_gpus = [g for g in self.free_gpus if g not in gpus]
        self.cpus -= need.cpus
        self.mem_mb -= need.mem_mb
        return gpus

    def give(self, need: Need, gpus: tuple[str, ...]) -> None:
        self.cpus += need.cpus
        self.mem_mb += need.mem_mb
        self.free_gpus.extend(gpus)


def _device_order(device: str) -> tuple[int, str]:
    return (int(device), "") if device.isdigit() else (1 << 30, device)


def _mem_total_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gpu_ids() -> tuple[str, ...]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1")
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    count = sum(1 for line in done.stdout.splitlines() if line.startswith("GPU "))
    return tuple(str(i) for i in range(count)) if done.returncode == 0 else ()
