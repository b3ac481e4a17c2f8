"""The local executor: a plan's runs on this machine, in dependency order, with the same
run dirs, launch scripts and ledger as on SLURM.

What keeps it honest when things go wrong:
- The ledger's lock is held only to decide (claim a run, record its end), never while a
  run trains, so `labspec cancel` and `labspec status` answer during a long run.
- A run is claimed only while it is still in the state it was selected in: a run that
  was cancelled, or taken by another launch, in the meantime is left alone.
- Its run dir's lock (`launch.rundir`) is taken before the claim and held by the run's
  processes, which die with the launcher (SIGTERM through PR_SET_PDEATHSIG; the
  runtime saves a checkpoint on it). SIGTERM, SIGHUP (a dropped ssh session) and Ctrl-C
  stop the current run the same way and mark it INTERRUPTED; after a SIGKILL the next
  launch (or `labspec status`) finds the lock free and marks it INTERRUPTED itself
  (`launch.refresh.reconcile_local`).
  The next launch resumes INTERRUPTED runs from their checkpoints.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, ClassVar

from compiler.plan import Plan, Run
from launch import ledger as L
from launch import rundir
from launch.executors.base import Executor
from launch.job import EXIT_REQUEUE, RunFailed, RunTask
from launch.ledger import Ledger, LedgerError, RunRecord
from launch.refresh import block_dependents

if TYPE_CHECKING:
    from launch.launcher import Selection

Log = Callable[[str], None]
GRACE_S = 60.0  # a stopped run's time to save its checkpoint before SIGKILL


class LauncherSignal(KeyboardInterrupt):
    """The launcher got SIGTERM or SIGHUP: stop like Ctrl-C, exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    def raise_it(signum: int, frame: FrameType | None) -> None:
        raise LauncherSignal(signum)

    saved = {sig: signal.signal(sig, raise_it) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class LocalExecutor(Executor):
    name: ClassVar[str] = "local"

    def dry_run(self, plan: Plan, ledger: Ledger, sel: Selection) -> str:
        return "".join(f"### {r.run_dir}/launch.sh (run {r.name})\n{r.script}\n" for r in sel.submit)

    def run(self, plan: Plan, ledger: Ledger, sel: Selection, log: Log) -> int:
        run_local(plan, ledger, sel.submit, log)
        return sum(1 for r in sel.submit if (rec := ledger.get(r.id)) is None or rec.state != L.COMPLETED)

    def cancel(self, rec: RunRecord, log: Log | None = None, quiet: bool = False) -> bool:
        if rec.state != L.RUNNING:
            return True
        return stop_run(rec.run_dir, log or (lambda _msg: None))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_local(plan: Plan, ledger: Ledger, runs: list[Run], log: Log) -> None:
    """Run `runs` here, one after another in dependency order."""
    expected = {r.id: rec.state for r in runs if (rec := ledger.get(r.id)) is not None}
    with signals_as_interrupts():
        for run in runs:
            _run_one(ledger, run, expected.get(run.id, L.NEW), log)
            block_dependents(ledger, plan.experiment)


def _run_one(ledger: Ledger, run: Run, expected: str, log: Log) -> None:
    tasks = [RunTask(run.run_dir, shard, run.shards, GRACE_S) for shard in range(run.shards)]
    try:
        with ledger.locked():
            if not _claim(ledger, run, expected, tasks, log):
                return
        outcome = _execute(ledger, run, tasks, log)
    finally:
        for task in tasks:
            task.release()
    state, detail = outcome
    try:
        recorded = ledger.set_state_if(run.id, (L.RUNNING,), state, detail)
    except LedgerError:
        log(f"{run.name} ended {state.lower()}{f' ({detail})' if detail else ''}, which the ledger could not record")
        raise
    if recorded:
        log({L.COMPLETED: f"completed {run.name}", L.FAILED: f"FAILED {run.name}: see {run.run_dir}/logs",
             L.INTERRUPTED: f"interrupted {run.name} ({detail})"}.get(state, f"{run.name}: {state}"))
    else:
        rec = ledger.get(run.id)
        log(f"{run.name} ended as {rec.state.lower() if rec else 'unknown'} (labspec cancel)")


def _claim(ledger: Ledger, run: Run, expected: str, tasks: list[RunTask], log: Log) -> bool:
    rec = ledger.get(run.id)
    if rec is None or rec.state != expected:
        log(f"not running {run.name}: it is {rec.state.lower() if rec else 'gone'} now")
        return False
    ups = [u for u in (ledger.get(d) for d in run.depends_on) if u is not None]
    failed = [u for u in ups if u.state in L.FAILED_STATES]
    if failed:
        ledger.set_state(run.id, L.UPSTREAM_FAILED, f"{failed[0].name} ({failed[0].id}) "
                         f"{failed[0].state.lower()}", executor="local")
        log(f"skipped {run.name}: {failed[0].name} did not complete")
        return False
    waiting = [u for u in ups if u.state != L.COMPLETED]
    if waiting:  # e.g. still running on SLURM from another launch: leave it for later
        log(f"not running {run.name} yet: {waiting[0].name} is {waiting[0].state.lower()}")
        return False
    try:
        for task in tasks:
            task.acquire()
    except rundir.RunDirBusy as exc:
        log(f"not running {run.name}: {exc}")
        return False
    now = time.time()
    ledger.set_state(run.id, L.RUNNING, executor="local", job_id=None, submitted_at=now, started_at=now,
                     ended_at=None)
    return True


def _execute(ledger: Ledger, run: Run, tasks: list[RunTask], log: Log) -> tuple[str, str | None]:
    log(f"running {run.name} ({run.id}) ...")
    saved_port = os.environ.get("MASTER_PORT")
    os.environ["MASTER_PORT"] = str(free_port())
    try:
        for task in tasks:
            pid = task.start()
            ledger.set_state_if(run.id, (L.RUNNING,), L.RUNNING, None, job_id=f"local:{pid}")
            try:
                task.wait()
            except RunFailed as exc:
                if exc.code == EXIT_REQUEUE:
                    return L.INTERRUPTED, "stopped at a checkpoint by a signal; launch again to resume it"
                return L.FAILED, str(exc).splitlines()[0]
            except KeyboardInterrupt as exc:
                why = f"launcher got {exc}" if isinstance(exc, LauncherSignal) else "interrupted (Ctrl-C)"
                ledger.set_state_if(run.id, (L.RUNNING,), L.INTERRUPTED, f"{why}; launch again to resume it")
                raise
        return L.COMPLETED, None
    finally:
        if saved_port is None:
            os.environ.pop("MASTER_PORT", None)
        else:
            os.environ["MASTER_PORT"] = saved_port


def stop_run(run_dir: str, log: Log, grace_s: float = GRACE_S) -> bool:
    """`labspec cancel` of a run executing here: SIGTERM to its processes (the runtime saves a
    checkpoint and exits), SIGKILL to what is left after `grace_s` seconds. False when it
    runs on another host (said in the log)."""
    owners = rundir.live_owners(run_dir)
    here = [o for o in owners if o.here and o.pid > 1]
    for owner in owners:
        if not owner.here:
            log(f"  it runs on {owner.host} ({owner.describe()}): stop it there")
    if not here:
        return False
    _signal(here, signal.SIGTERM)
    log(f"  waiting up to {grace_s:.0f}s for {run_dir} to save a checkpoint and stop ...")
    if not rundir.wait_released(run_dir, grace_s):
        _signal([o for o in rundir.live_owners(run_dir) if o.here and o.pid > 1], signal.SIGKILL)
        log(f"  killed what was left of it after {grace_s:.0f}s")
    return True


def _signal(owners: list[rundir.Owner], sig: int) -> None:
    """Each owner's process group (the session RunTask started), and the owner itself."""
    for owner in owners:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(owner.pid, sig)  # the group outlives a killed leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(owner.pid, sig)
