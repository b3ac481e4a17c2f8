"""`python -m runtime.torchrun ARGS`: torchrun (`torch.distributed.run`) as the launch
scripts start it, without its traceback when a rank fails.

Why: when a worker exits non-zero, torchrun raises `ChildFailedError` and Python prints its
traceback and a table into the run's error log, after the worker's own message; a user
error (a missing data file) then reads like a crash of labspec. Here the worker's message
stays where it is and torchrun's failure becomes one line naming the ranks and their exit
codes. The exit status is torchrun's own (1), except when the ranks stopped together at a
checkpoint for a requeue (`EXIT_REQUEUE`; a rank torchrun stopped meanwhile counts as one of
them): then it is EXIT_REQUEUE, so the job wrapper and the local executor resume the run.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    from runtime.core.preemption import EXIT_REQUEUE

    try:
        torchrun(argv)
    except ChildFailedError as exc:
        failures = sorted(exc.failures.items())
        codes = {failure.exitcode for _, failure in failures}
        if EXIT_REQUEUE in codes and all(c == EXIT_REQUEUE or c < 0 for c in codes):
            print("stopped at a checkpoint for a requeue (every rank)", file=sys.stderr, flush=True)
            return EXIT_REQUEUE
        ranks = ", ".join(f"rank {rank} exited with {failure.exitcode}" for rank, failure in failures)
        print(f"error: {ranks} (the rank's own message is above)", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
