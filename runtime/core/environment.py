"""The process's place in its run: the environment that torchrun, DeepSpeed's launcher,
SLURM or the python launcher template leave (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR/PORT), read in one place for every task.

- `init()`: join the run's torch.distributed process group (gloo on CPU, NCCL on a GPU),
  for tasks that drive collectives themselves (smoke); `finish()` leaves it.
- `prepare_training(run)`: the same variables for the trainers (transformers, TRL,
  accelerate, DeepSpeed), which create the group themselves. Known on these versions
  (transformers 5.24, trl 1.16, accelerate 1.15, deepspeed 0.19): on CPU accelerate picks
  no backend for DeepSpeed and fills "auto" batch sizes for a world of one, so the state
  is created first with gloo, `ACCELERATE_USE_DEEPSPEED` is set and the trainer is told
  to use that state; a single process still needs RANK/WORLD_SIZE/... set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from specs.tasks import RunConfig

DEFAULTS = (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500"))


@dataclass(frozen=True)
class World:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(*names: str, default: int) -> int:
    for name in names:
        if os.environ.get(name):
            return int(os.environ[name])
    return default


def world() -> World:
    """This process's rank, world size and local rank (the launcher's, else SLURM's, else one process)."""
    rank = _env_int("RANK", "SLURM_PROCID", default=0)
    size = _env_int("WORLD_SIZE", "SLURM_NTASKS", default=1)
    local = _env_int("LOCAL_RANK", "SLURM_LOCALID", default=0)
    for key, value in DEFAULTS:
        os.environ.setdefault(key, value)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(local))
    return World(rank, size, local)


def device() -> str:
    """This process's accelerator: its local rank's GPU, else the CPU."""
    return f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else "cpu"


def init() -> World:
    """Join (or create) the process group described by the environment."""
    me = world()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(me.local_rank)
        dist.init_process_group(backend=backend, init_method="env://", rank=me.rank, world_size=me.world_size)
    return me


def finish() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def prepare_training(run: RunConfig) -> World:
    """The environment the trainers read: process-group variables, the DeepSpeed ops cache,
    TensorBoard's directory, and accelerate's state (see the module docstring)."""
    me = world()
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "labspec" / "torch_extensions"))
    os.environ["TENSORBOARD_LOGGING_DIR"] = run.tensorboard.log_dir  # transformers 5 reads it here
    if run.deepspeed_config:
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    from accelerate import PartialState

    PartialState(backend="nccl" if torch.cuda.is_available() else "gloo")
    return me
