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
import random
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, ClassVar

from compiler.plan import Plan, Run
from launch import ledger as L
from launch import rundir
from launch.executors.base import Executor
from launch.executors.machine import Machine, Need, Pool, too_big
from launch.job import EXIT_REQUEUE, RunFailed, RunTask
from launch.ledger import Ledger, LedgerError, RunRecord
from launch.refresh import block_dependents
from specs.errors import LabspecError

if TYPE_CHECKING:
    from launch.launcher import Selection
    from specs.loader import LoadedSpec

Log = Callable[[str], None]
GRACE_S = 60.0  # a stopped run's time to save its checkpoint before SIGKILL
POLL_S = 0.2  # how often running runs are looked at


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

    def __init__(self, jobs: int | None = None, machine: Machine | None = None) -> None:
        self.jobs = jobs  # at most this many runs at once; None: as many as the machine holds
        self._machine = machine

    @property
    def machine(self) -> Machine:
        if self._machine is None:
            self._machine = Machine.here()
        return self._machine

    def check_fit(self, runs: list[Run], loaded: LoadedSpec | None, log: Log) -> list[str]:
        """Refuse a run that asks more than this whole machine: it would wait forever."""
        problems = [f"  {r.name}: asks {'; '.join(too)}" for r in runs
                    if (too := too_big(Need.of(r.resources), self.machine))]
        if problems:
            raise LabspecError("these runs can never start on this machine "
                               f"({self.machine.describe()}):\n" + "\n".join(problems)
                               + "\nlower their resources (-o resources... or the stage's), or launch on SLURM")
        return []

    def dry_run(self, plan: Plan, ledger: Ledger, sel: Selection) -> str:
        return "".join(f"### {r.run_dir}/launch.sh (run {r.name})\n{r.script}\n" for r in sel.submit)

    def run(self, plan: Plan, ledger: Ledger, sel: Selection, log: Log) -> int:
        run_local(plan, ledger, sel.submit, log, self.jobs, self.machine)
        return sum(1 for r in sel.submit if (rec := ledger.get(r.id)) is None or rec.state != L.COMPLETED)

    def cancel(self, rec: RunRecord, log: Log | None = None, quiet: bool = False) -> bool:
        if rec.state != L.RUNNING:
            return True
        return stop_run(rec.run_dir, log or (lambda _msg: None))


def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel hands out for bind(0) and outgoing connections (Linux's file;
    IANA's 49152-65535 elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def free_port(taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A port nothing listens on, and none of `taken` (the ports of runs started meanwhile).

    The child binds it a moment later, so the port is drawn at random from below the
    kernel's ephemeral range: a port bind(0) returned is the kernel's next pick for any other
    process's bind(0) or outgoing connection too, which on a busy machine took it in between
    (EADDRINUSE in the child's rendezvous)."""
    low = ephemeral_ports()[0]
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10000, low) if low > 10000 else rng.randrange(1024, 65536)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise LabspecError("no free TCP port for a local run's rendezvous: 200 random ports below the "
                       f"ephemeral range ({low}) were all in use")


@dataclass
class _Active:
    """A run executing here: its tasks (one per shard, run one after another), the one
    running now, and what it holds of the machine."""

    run: Run
    tasks: list[RunTask]
    need: Need
    gpus: tuple[str, ...]
    env: dict[str, str]
    shard: int = 0

    @property
    def task(self) -> RunTask:
        return self.tasks[self.shard]


def run_local(plan: Plan, ledger: Ledger, runs: list[Run], log: Log, jobs: int | None = None,
              machine: Machine | None = None) -> None:
    """Run `runs` here, each once its upstream runs completed, as many at once as `jobs`
    and the machine's free GPUs, CPUs and memory allow (in plan order; a run that does not
    fit yet lets a smaller later one start)."""
    expected = {r.id: rec.state for r in runs if (rec := ledger.get(r.id)) is not None}
    pool = Pool(machine or Machine.here())
    waiting, active = list(runs), {}  # type: tuple[list[Run], dict[str, _Active]]
    with signals_as_interrupts():
        try:
            while waiting or active:
                started = _start_ready(ledger, waiting, active, pool, jobs, expected, log)
                ended = _reap(ledger, plan, active, pool, log)
                if not started and not ended:
                    if not active:  # what waits depends on runs outside this launch, or cannot fit
                        for run in waiting:
                            log(f"not running {run.name}: it waits for runs this launch does not run")
                        return
                    time.sleep(POLL_S)
        except KeyboardInterrupt as exc:
            _interrupt(ledger, active, exc)
            raise


def _start_ready(ledger: Ledger, waiting: list[Run], active: dict[str, _Active], pool: Pool, jobs: int | None,
                 expected: dict[str, str], log: Log) -> bool:
    """Start every waiting run whose upstream runs of this launch are done and that fits."""
    started = False
    unfinished = {r.id for r in waiting} | set(active)
    for run in list(waiting):
        if jobs is not None and len(active) >= jobs:
            break
        if any(d in unfinished for d in run.depends_on):
            continue
        need = Need.of(run.resources)
        if not pool.fits(need):
            continue
        waiting.remove(run)
        tasks = [RunTask(run.run_dir, shard, run.shards, GRACE_S) for shard in range(run.shards)]
        with ledger.locked():
            claimed = _claim(ledger, run, expected.get(run.id, L.NEW), tasks, log)
        if not claimed:
            unfinished.discard(run.id)  # it will not run in this launch: its dependents find out in _claim
            for task in tasks:
                task.release()
            continue
        gpus = pool.take(need)
        env = {"MASTER_PORT": str(free_port({int(a.env["MASTER_PORT"]) for a in active.values()})),
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(need.threads()))}
        if pool.machine.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        active[run.id] = _Active(run, tasks, need, gpus, env)
        on = f" on GPUs {','.join(gpus)}" if gpus else ""
        log(f"running {run.name} ({run.id}){on} ...")
        _start_shard(ledger, active[run.id])
        started = True
    return started


def _start_shard(ledger: Ledger, act: _Active) -> None:
    pid = act.task.start(act.env)
    ledger.set_state_if(act.run.id, (L.RUNNING,), L.RUNNING, None, job_id=f"local:{pid}")


def _reap(ledger: Ledger, plan: Plan, active: dict[str, _Active], pool: Pool, log: Log) -> bool:
    """Record the runs whose processes ended (or start their next shard); True if any did."""
    ended = False
    for run_id, act in list(active.items()):
        code = act.task.poll()
        if code is None:
            continue
        ended = True
        outcome: tuple[str, str | None]
        try:
            act.task.finish(code)
        except RunFailed as exc:
            outcome = (L.INTERRUPTED, "stopped at a checkpoint by a signal; launch again to resume it") \
                if exc.code == EXIT_REQUEUE else (L.FAILED, str(exc).splitlines()[0])
        else:
            if act.shard + 1 < len(act.tasks):
                act.shard += 1
                _start_shard(ledger, act)
                continue
            outcome = (L.COMPLETED, None)
        del active[run_id]
        for task in act.tasks:
            task.release()
        pool.give(act.need, act.gpus)
        _record_end(ledger, act.run, outcome[0], outcome[1], log)
        block_dependents(ledger, plan.experiment)
    return ended


def _record_end(ledger: Ledger, run: Run, state: str, detail: str | None, log: Log) -> None:
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


def _interrupt(ledger: Ledger, active: dict[str, _Active], exc: KeyboardInterrupt) -> None:
    """Ctrl-C or a signal to the launcher: every running run stops at a checkpoint (all are
    told at once, then each is waited for) and is marked INTERRUPTED, to resume later."""
    why = f"launcher got {exc}" if isinstance(exc, LauncherSignal) else "interrupted (Ctrl-C)"
    for act in active.values():
        act.task.send(signal.SIGTERM)
    for act in active.values():
        act.task.stop()
        for task in act.tasks:
            task.release()
        ledger.set_state_if(act.run.id, (L.RUNNING,), L.INTERRUPTED, f"{why}; launch again to resume it")
    active.clear()


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
    """Each owner's process group (the session RunTask started), and the owner itself; not
    a pid that another process has taken since (a daemon's, say) after the owner died while
    a child of it still holds the run dir's lock."""
    for owner in owners:
        if not owner.is_its_process():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(owner.pid, sig)  # the group outlives a killed leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(owner.pid, sig)
