"""What a SLURM task (or the local executor) runs for one run: `bash launch.sh`.

`RunTask` is the callable submitit pickles. On the node it starts the run's launch
script in its own process group, tees its output into the run dir's `logs/`, and
raises when the script fails, so SLURM and the ledger see FAILED. When SLURM announces
the end (timeout or preemption: SIGUSR2 through submitit), `checkpoint()` passes the
signal to the run, waits until every process of the run on this node has exited (the
runtime saves, meets the other ranks at a barrier, then exits), and hands submitit a
copy of itself to requeue: the requeued task runs the same script, which resumes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EXIT_REQUEUE = 75  # the runtime stopped early with a checkpoint (runtime.preemption)
PR_SET_CHILD_SUBREAPER = 36


class RunFailed(RuntimeError):
    """The run's launch script exited non-zero."""


class RunTask:
    def __init__(self, run_dir: str, shard: int = 0, shards: int = 1, grace_s: float = 60.0) -> None:
        self.run_dir = run_dir
        self.shard = shard
        self.shards = shards
        self.grace_s = grace_s
        self._proc: subprocess.Popen[bytes] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "shard": self.shard, "shards": self.shards, "grace_s": self.grace_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __call__(self) -> int:
        node = os.environ.get("SLURM_NODEID", "0")
        logs = Path(self.run_dir, "logs")
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LABSPEC_SHARD": str(self.shard), "LABSPEC_NUM_SHARDS": str(self.shards)}
        stem = f"node{node}" if self.shards == 1 else f"shard{self.shard}.node{node}"
        if "SLURM_JOB_ID" in os.environ:
            _become_subreaper()  # orphaned workers (torchrun's) stay ours to wait for
        with open(logs / f"{stem}.out", "ab") as out, open(logs / f"{stem}.err", "ab") as err:
            banner = f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} job {os.environ.get('SLURM_JOB_ID', 'local')}\n"
            out.write(banner.encode())
            out.flush()
            self._proc = subprocess.Popen(["bash", str(Path(self.run_dir, "launch.sh"))], stdout=out,
                                          stderr=err, env=env, start_new_session=True)
            try:
                code = self._proc.wait()
            except KeyboardInterrupt:  # the local executor interrupted: stop the whole run
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGTERM)
                try:
                    self._proc.wait(timeout=self.grace_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self._proc.pid, signal.SIGKILL)
                raise
        if code != 0:
            tail = _tail(logs / f"{stem}.err")
            raise RunFailed(f"{self.run_dir}: launch.sh exited with {code}\n{tail}")
        return code

    def checkpoint(self) -> Any:
        """submitit calls this on SIGUSR2: stop the run at a checkpoint, then requeue."""
        import submitit

        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGUSR2)
        self._wait_for_children()
        return submitit.helpers.DelayedSubmission(RunTask(self.run_dir, self.shard, self.shards, self.grace_s))

    def _wait_for_children(self) -> None:
        """Wait until every process of the run on this node has ended (this SLURM task
        process is their subreaper, so torchrun's workers count too).

        __call__ is blocked in proc.wait(), which holds Popen's lock (proc.poll() would
        report "running" forever), so children are reaped here with os.waitpid.
        """
        deadline = time.time() + self.grace_s
        while time.time() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return  # no child left
            if pid == 0:
                time.sleep(0.2)
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)


def _become_subreaper() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


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
