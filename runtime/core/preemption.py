"""Stop cleanly when SLURM says the job is about to end (timeout or preemption).

SLURM (via submitit's `--signal=USR2@90`) sends SIGUSR2 before the time limit, and
SIGTERM on preemption. Both only set a flag: the ranks agree to stop at the same step
(the flag travels with a collective), save a checkpoint, meet at a barrier and exit with
`EXIT_REQUEUE`; the requeued job resumes from there, so no step is lost. The job wrapper
(launch.job) requeues only once every process of the run has exited.
"""

from __future__ import annotations

import signal
from types import FrameType

EXIT_REQUEUE = 75  # EX_TEMPFAIL: stopped early with a checkpoint; run me again


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.signal: str | None = None
        for sig in (signal.SIGUSR2, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.signal = signal.Signals(signum).name
