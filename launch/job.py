"""What a SLURM task (or the local executor) runs for one run: `bash launch.sh`.

`RunTask` is the callable submitit pickles. On the node it starts the run's launch
script in its own process group, tees its output into the run dir's `logs/`, and
raises when the script fails, so SLURM and the ledger see FAILED. When SLURM announces
the end (timeout or preemption: SIGUSR2 through submitit), `checkpoint()` passes the
signal to the run, waits for it to save its checkpoint and exit, and hands submitit a
copy of itself to requeue: the requeued task runs the same script, which resumes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EXIT_REQUEUE = 75  # the runtime stopped early with a checkpoint (runtime.preemption)
STOP_GRACE_S = 60.0


class RunFailed(RuntimeError):
    """The run's launch script exited non-zero."""


class RunTask:
    def __init__(self, run_dir: str, shard: int = 0, shards: int = 1) -> None:
        self.run_dir = run_dir
        self.shard = shard
        self.shards = shards
        self._proc: subprocess.Popen[bytes] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "shard": self.shard, "shards": self.shards}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __call__(self) -> int:
        node = os.environ.get("SLURM_NODEID", "0")
        logs = Path(self.run_dir, "logs")
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LABSPEC_SHARD": str(self.shard), "LABSPEC_NUM_SHARDS": str(self.shards)}
        stem = f"node{node}" if self.shards == 1 else f"shard{self.shard}.node{node}"
        with open(logs / f"{stem}.out", "ab") as out, open(logs / f"{stem}.err", "ab") as err:
            banner = f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} job {os.environ.get('SLURM_JOB_ID', 'local')}\n"
            out.write(banner.encode())
            out.flush()
            self._proc = subprocess.Popen(["bash", str(Path(self.run_dir, "launch.sh"))], stdout=out,
                                          stderr=err, env=env, start_new_session=True)
            code = self._proc.wait()
        if code == EXIT_REQUEUE:
            # stopped for a timeout/preemption that submitit is requeueing: wait to be ended
            time.sleep(STOP_GRACE_S)
        if code != 0:
            tail = _tail(logs / f"{stem}.err")
            raise RunFailed(f"{self.run_dir}: launch.sh exited with {code}\n{tail}")
        return code

    def checkpoint(self) -> Any:
        """submitit calls this on SIGUSR2: stop the run at a checkpoint, then requeue."""
        import submitit

        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGUSR2)
            # __call__ is blocked in proc.wait(), which holds Popen's lock (proc.poll()
            # would say "running" forever): reap the child directly
            deadline = time.time() + STOP_GRACE_S
            while time.time() < deadline:
                try:
                    pid, _ = os.waitpid(proc.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    break
                time.sleep(0.2)
        return submitit.helpers.DelayedSubmission(RunTask(self.run_dir, self.shard, self.shards))


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def main(argv: list[str]) -> int:
    """`python -m launch.job RUN_DIR [SHARD SHARDS]`: run one run here, as a task would."""
    shard, shards = (int(argv[1]), int(argv[2])) if len(argv) == 3 else (0, 1)
    try:
        return RunTask(argv[0], shard, shards)()
    except RunFailed as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
