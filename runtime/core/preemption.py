"""Stop cleanly when SLURM says the job is about to end (timeout or preemption).

SLURM (via submitit's `--signal=USR2@90`) sends SIGUSR2 before the time limit, and
SIGTERM on preemption. Both only set a flag: the ranks agree to stop at the same step
(the flag travels with a collective), save a checkpoint, meet at a barrier and exit with
`EXIT_REQUEUE`; the requeued job resumes from there, so no step is lost. The job wrapper
(launch.job) requeues only once every process of the run has exited.

The agreement costs a collective and a host-device synchronisation, so `AgreedStop` holds
it only every N steps (every step would stall a GPU's kernel queue: PyTorch's performance
guide warns against `.item()` in the loop). N is the spec's `training.stop_check_steps`,
or else chosen from the measured step time so that the ranks compare flags about every
`CHECK_EVERY_S` seconds, well inside SLURM's 90 s notice. Every rank takes part in every
check and computes the next one from the same all-reduced numbers, so they agree on it.
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

EXIT_REQUEUE = 75  # EX_TEMPFAIL: stopped early with a checkpoint; run me again
CHECK_EVERY_S = 10.0  # auto interval: about this long between two agreements
MAX_CHECK_INTERVAL = 1000  # steps; bounds the interval when steps are very short


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.signal: str | None = None
        for sig in (signal.SIGUSR2, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.signal = signal.Signals(signum).name


def auto_interval(seconds_per_step: float) -> int:
    """Steps between two agreements so that they come about every CHECK_EVERY_S seconds."""
    return max(1, min(MAX_CHECK_INTERVAL, int(CHECK_EVERY_S / max(seconds_per_step, 1e-6))))


class AgreedStop:
    """Whether the run stops at this step: the same answer on every rank.

    A single process reads its own flag every step (no collective, no tensor). Several
    ranks all-reduce (MAX) the flag with their seconds per step since the last check at
    the checking steps only; the slowest rank's step time sets the next checking step."""

    def __init__(self, every_steps: int | None) -> None:
        self.flag = StopFlag()  # from now on, a signal only sets the flag
        self.every_steps = every_steps
        self.device: Any = "cpu"
        self.next_check = 1
        self._since: tuple[float, int | None] = (time.monotonic(), None)
        self.checks = 0  # collectives held (for tests and benchmarks)

    def begin(self, step: int, device: Any) -> None:
        """Training starts (or resumes) at `step` on `device`: the first check is the next step
        (a resumed trainer may report its step only then: the first interval counts one step)."""
        self.device = device
        self._since = (time.monotonic(), None)
        self.next_check = step + 1

    def should_stop(self, step: int) -> bool:
        import torch.distributed as dist

        if not dist.is_initialized() or dist.get_world_size() == 1:
            return self.flag.requested
        if step < self.next_check:
            return False
        import torch

        now = time.monotonic()
        since_time, since_step = self._since
        steps = 1 if since_step is None else max(step - since_step, 1)
        per_step = (now - since_time) / steps
        numbers = torch.tensor([1.0 if self.flag.requested else 0.0, per_step], dtype=torch.float64,
                               device=self.device)  # NCCL: on the GPU
        dist.all_reduce(numbers, op=dist.ReduceOp.MAX)
        requested, slowest = numbers.tolist()
        self.checks += 1
        self._since = (now, step)
        self.next_check = step + (self.every_steps or auto_interval(slowest))
        return requested > 0
