"""What a SLURM task (or the local executor) runs for one run: `bash launch.sh`.

`RunTask` is the callable submitit pickles. On the node it takes the run dir's lock for
its slot (`launch.rundir`: one writer per run dir; a second attempt waits for the first
to end, then refuses), starts the run's launch script in its own process group with
the lock's descriptor, tees its output into the run dir's `logs/`, and raises when the
script fails, so SLURM and the ledger see FAILED. An attempt that exits 0 leaves a
completion marker in the run dir.

The script's processes die with their starter: they get SIGTERM when it dies
(PR_SET_PDEATHSIG), whatever killed it (SIGKILL of a local launch, a dropped ssh
session's SIGHUP), and the runtime saves a checkpoint on SIGTERM. When SLURM announces
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch import rundir

EXIT_REQUEUE = 75  # the runtime stopped early with a checkpoint (runtime.core.preemption)
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
LOCK_WAIT_S = 120.0  # a previous attempt (a --force resubmission, a requeue) gets this long to finish


class RunFailed(RuntimeError):
    """The run's launch script exited non-zero."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class RunTask:
    def __init__(self, run_dir: str, shard: int = 0, shards: int = 1, grace_s: float = 60.0) -> None:
        self.run_dir = run_dir
        self.shard = shard
        self.shards = shards
        self.grace_s = grace_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "shard": self.shard, "shards": self.shards, "grace_s": self.grace_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def node(self) -> str:
        return os.environ.get("SLURM_NODEID", "0")

    @property
    def slot(self) -> str:
        return rundir.slot(self.node, self.shard)

    @property
    def _stem(self) -> str:
        return f"node{self.node}" if self.shards == 1 else f"shard{self.shard}.node{self.node}"

    def __call__(self) -> int:
        if "SLURM_JOB_ID" in os.environ:
            _become_subreaper()  # orphaned workers (torchrun's) stay ours to wait for
        self.acquire(LOCK_WAIT_S)
        self.start()
        return self.wait()

    def acquire(self, wait_s: float = 0.0) -> None:
        """Take the run dir's lock for this slot (raises rundir.RunDirBusy)."""
        if self._lock is None:
            self._lock = rundir.take(self.run_dir, self.slot, wait_s)
            if self._lock is None:
                print(f"warning: {self.run_dir}: this filesystem has no file locks; nothing stops a second "
                      "attempt of this run from writing beside this one", file=sys.stderr)
                return
            # the ranks of an earlier attempt (their own locks) must be gone too
            if not rundir.wait_released(self.run_dir, wait_s, prefix=f"lock.{self.slot}.rank"):
                rundir.release(self._lock)
                self._lock = None
                owner = next(iter(rundir.live_owners(self.run_dir, prefix=f"lock.{self.slot}.rank")), None)
                raise rundir.RunDirBusy(f"{self.run_dir} is still in use by another attempt of this run "
                                        f"({owner.describe() if owner else 'its ranks'}); wait for it to end or "
                                        "cancel it (labspec cancel)")

    def start(self, extra_env: Mapping[str, str] | None = None) -> int:
        """Start the launch script (its own process group, dying with this process), with
        `extra_env` on top of ours (the local executor's port, threads and GPUs); its pid."""
        logs = Path(self.run_dir, "logs")
        logs.mkdir(parents=True, exist_ok=True)
        me = os.getpid()
        env = {**os.environ, **(extra_env or {}), "LABSPEC_SHARD": str(self.shard),
               "LABSPEC_NUM_SHARDS": str(self.shards),
               "LABSPEC_STARTER": f"{me}:{rundir.start_time(me)}"}  # the run's processes die with this one
        pass_fds: tuple[int, ...] = ()
        env.pop("LABSPEC_RUN_LOCK_FD", None)
        if self._lock is not None:
            env["LABSPEC_RUN_LOCK_FD"] = str(self._lock)  # launch.sh: the lock is held already
            pass_fds = (self._lock,)
        rundir.clear_completed(self.run_dir, self.slot)  # this attempt's marker is written when it ends
        parent = os.getpid()
        with open(logs / f"{self._stem}.out", "ab") as out, open(logs / f"{self._stem}.err", "ab") as err:
            out.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} job {os.environ.get('SLURM_JOB_ID', 'local')}\n"
                      .encode())
            out.flush()
            self._proc = subprocess.Popen(["bash", str(Path(self.run_dir, "launch.sh"))], stdout=out, stderr=err,
                                          env=env, start_new_session=True, pass_fds=pass_fds,
                                          preexec_fn=lambda: _die_with(parent))
        rundir.record_owner(self.run_dir, self.slot, self._proc.pid)
        return self._proc.pid

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def poll(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def wait(self) -> int:
        """Wait for the script; an interrupt (Ctrl-C, or a signal the caller turned into an
        exception) stops the whole run first. Raises RunFailed on a non-zero exit."""
        assert self._proc is not None, "start() first"
        try:
            code = self._proc.wait()
        except BaseException:
            self.stop()
            self._close()
            raise
        return self.finish(code)

    def finish(self, code: int) -> int:
        """Close up after the script exited with `code`."""
        self._close()
        if code != 0:
            tail = _tail(Path(self.run_dir, "logs", f"{self._stem}.err"))
            raise RunFailed(f"{self.run_dir}: launch.sh exited with {code}\n{tail}", code)
        with contextlib.suppress(OSError):  # a full disk must not fail a finished run
            rundir.mark_completed(self.run_dir, self.slot, os.environ.get("SLURM_JOB_ID", f"local:{self.pid}"))
        return code

    def send(self, sig: int) -> None:
        """Send `sig` to the run's process group, if it still runs."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the run's process group: `sig` (the runtime checkpoints on SIGTERM), then
        SIGKILL after the grace period."""
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)
        try:
            self._proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def _close(self) -> None:
        self.release()

    def release(self) -> None:
        """Let go of the run dir's lock (the script's processes keep their copy while they live)."""
        rundir.release(self._lock)
        self._lock = None

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


def _die_with(parent: int) -> None:
    """In the child, before exec: get SIGTERM when the starting process dies (the flag
    survives bash's exec of torchrun or python); if it died already, stop now."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


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
    except (RunFailed, rundir.RunDirBusy) as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
