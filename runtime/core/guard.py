"""Every process of a run guards its run dir itself, whatever launcher sits in between
(torchrun, DeepSpeed's launcher, python), so a run's processes die with whoever started
them and never write beside another attempt:

- SIGTERM when the parent dies (PR_SET_PDEATHSIG), and when the run's starter (the job
  wrapper, `launch.job.RunTask`, named by LABSPEC_STARTER) dies: an intermediate launcher
  that does not pass signals on (DeepSpeed's) or was killed itself (torchrun, by the OOM
  killer) cannot leave a worker writing on its own. The runtime saves a checkpoint on
  SIGTERM where it trains.
- Each rank holds its own lock in the run dir (`launch.rundir`, `lock.<slot>.rank<r>`),
  so a later launch sees it alive, `labspec cancel` finds its pid, and a second attempt
  (a relaunch, a hand-run `bash launch.sh`) refuses to start while it lives.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import threading

from launch import rundir
from runtime.core.errors import TaskInputError
from specs.tasks import RunConfig

PR_SET_PDEATHSIG = 1
_held: list[int] = []  # the rank's lock, open for the life of the process


def protect(run: RunConfig) -> None:
    """Guard this process (see the module docstring); raises TaskInputError when another
    attempt of the run still holds this rank's place."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    _watch_starter(os.environ.get("LABSPEC_STARTER", ""))
    which = f"{rundir.slot(os.environ.get('NODE_RANK', '0'), int(os.environ.get('LABSPEC_SHARD', '0')))}" \
            f".rank{os.environ.get('LOCAL_RANK', '0')}"
    try:
        fd = rundir.take(run.run_dir, which)
    except rundir.RunDirBusy as exc:
        raise TaskInputError(str(exc)) from None
    except OSError:
        return  # the run dir is not writable here: nothing to guard (the task will say what is wrong)
    if fd is not None:
        _held.append(fd)
        rundir.record_owner(run.run_dir, which, os.getpid())


def _watch_starter(starter: str) -> None:
    pid_text, _, started = starter.partition(":")
    if not pid_text.isdigit():
        return  # run by hand: the parent's death signal is enough
    pid = int(pid_text)
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        pidfd = None
    if rundir.start_time(pid) != started:  # gone already (its pid may be another process's by now)
        os.kill(os.getpid(), signal.SIGTERM)
        return

    def wait() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the starter has exited
        else:
            while rundir.start_time(pid) == started:
                threading.Event().wait(2.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="labspec-starter-watch", daemon=True).start()
