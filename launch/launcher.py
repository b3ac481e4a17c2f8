"""Send a compiled plan to an executor and remember it in the ledger.

Under the ledger's lock: reconcile what a killed launch left behind, refresh states,
choose the runs to submit (idempotent: pending, running and completed runs are left
alone unless --force; failed ones are retried with --retry-failed), write their run
dirs, then submit unit by unit in dependency order, recording each job before moving on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compiler.plan import Plan, Run
from launch import ledger as L
from launch.emit import emit, provenance
from launch.executors import LocalExecutor, SlurmExecutor, check_partitions, free_port
from launch.job import RunFailed, RunTask
from launch.ledger import Ledger, LedgerError
from launch.refresh import block_dependents, refresh
from launch.units import Unit, group
from specs.errors import LabspecError
from specs.loader import LoadedSpec

Log = Callable[[str], None]


@dataclass
class Selection:
    submit: list[Run] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # run id -> why
    blocked: dict[str, str] = field(default_factory=dict)  # run id -> the upstream run that failed


@dataclass
class LaunchOptions:
    executor: SlurmExecutor | LocalExecutor
    force: bool = False
    retry_failed: bool = False
    allow_dirty: bool = False
    dry_run: bool = False


def select(plan: Plan, ledger: Ledger, force: bool, retry_failed: bool) -> Selection:
    sel = Selection()
    chosen: set[str] = set()
    for run in plan.runs:
        rec = ledger.get(run.id)
        state = rec.state if rec else L.NEW
        if not force and state in (L.PENDING, L.RUNNING, L.COMPLETED):
            sel.skipped[run.id] = state.lower()
            continue
        if not force and not retry_failed and state in L.FAILED_STATES:
            sel.skipped[run.id] = f"{state.lower()} (--retry-failed to run it again)"
            continue
        failed_up = [d for d in run.depends_on if d not in chosen
                     and (d in sel.blocked or _state(ledger, d) in L.FAILED_STATES)]
        if failed_up:
            sel.blocked[run.id] = failed_up[0]
            continue
        sel.submit.append(run)
        chosen.add(run.id)
    return sel


def _state(ledger: Ledger, run_id: str) -> str:
    rec = ledger.get(run_id)
    return rec.state if rec else L.NEW


class JobMap:
    """Which SLURM job each run is (or will be), for building dependencies."""

    def __init__(self, ledger: Ledger | None) -> None:
        self.ledger = ledger
        self.of_unit: dict[int, str] = {}  # id(unit) -> its job id
        self.of_run: dict[str, str] = {}

    def add(self, unit: Unit, job: str) -> None:
        self.of_unit[id(unit)] = job
        for i, run in enumerate(unit.runs):
            # an array's task, or the job itself (a single job, or a sharded run's whole array)
            self.of_run[run.id] = f"{job}_{i}" if unit.is_array and not unit.sharded else job

    def job_of(self, run_id: str, selected: set[str]) -> str | None:
        if run_id in self.of_run:
            return self.of_run[run_id]
        if run_id in selected:
            raise LabspecError(f"internal: upstream run {run_id} has no job yet (units out of order)")
        rec = self.ledger.get(run_id) if self.ledger else None
        return rec.job_id if rec and rec.state in (L.PENDING, L.RUNNING) else None  # done: no wait

    def dependency(self, unit: Unit, selected: set[str]) -> str | None:
        parts = [f"{'aftercorr' if up.is_array else 'afterok'}:{self.of_unit[id(up)]}"
                 for up in unit.corr_upstream]  # task i waits for upstream task i
        ok = [j for j in (self.job_of(d, selected) for d in unit.ok_upstream) if j]
        if ok:
            parts.append("afterok:" + ":".join(ok))
        return ",".join(parts) or None


def folder(plan: Plan) -> Path:
    return Path(plan.output_root) / plan.experiment / ".submitit" / "%j"


def dry_run_scripts(plan: Plan, ledger: Ledger | None, executor: SlurmExecutor, sel: Selection) -> str:
    """What would be submitted: each unit's batch script (job ids and the token shown as
    %job<n>:<stage>% and %token%) and the launch script its tasks run."""
    units = group(sel.submit)
    selected = {r.id for r in sel.submit}
    jobs = JobMap(ledger)
    out = []
    for n, unit in enumerate(units):
        params = executor.parameters(unit, plan.experiment, "%token%", jobs.dependency(unit, selected))
        jobs.add(unit, f"%job{n}:{unit.stage}%")  # shell-safe: shown unquoted, as a real id would be
        runs = ", ".join(f"{r.name} ({r.id})" for r in unit.runs)
        out.append(f"### sbatch %job{n}:{unit.stage}%: {len(unit.tasks)} task(s): {runs}\n"
                   f"{executor.script(unit, folder(plan), params)}")
    for run in sel.submit:
        out.append(f"### {run.run_dir}/launch.sh (run {run.name}, each task runs it on its node)\n{run.script}")
    return "\n".join(out)


def submit_slurm(plan: Plan, ledger: Ledger, executor: SlurmExecutor, sel: Selection, log: Log) -> None:
    check_partitions({r.resources["partition"] for r in sel.submit if r.resources["partition"]})
    selected = {r.id for r in sel.submit}
    jobs = JobMap(ledger)
    for unit in group(sel.submit):
        token = uuid.uuid4().hex[:8]
        params = executor.parameters(unit, plan.experiment, token, jobs.dependency(unit, selected))
        now = time.time()
        ledger.set_states([(run.id, L.SUBMITTING, None, {
            "executor": "slurm", "token": token, "task_index": None if unit.sharded else i, "job_id": None,
            "submitted_at": now, "started_at": None}) for i, run in enumerate(unit.runs)])
        try:
            ids = executor.submit(unit, folder(plan), params)
        except BaseException:
            ledger.set_states([(r.id, L.NEW, "sbatch refused it", {"token": None}) for r in unit.runs])
            raise
        jobs.add(unit, ids[0].split("_")[0])
        ledger.set_states([(run.id, L.PENDING, f"sbatch {jobs.of_run[run.id]}", {"job_id": jobs.of_run[run.id]})
                           for run in unit.runs])
        log(f"submitted {unit.stage}: {len(unit.tasks)} task(s) as job {jobs.of_unit[id(unit)]}"
            + (f" (after {params['dependency']})" if "dependency" in params else ""))


def reconcile(ledger: Ledger, log: Log) -> None:
    """Complete what a launch killed between sbatch and the ledger left behind: runs in
    SUBMITTING whose job (found by the token in its name) exists get that job; the
    others were never submitted. Refuses to guess when SLURM cannot be asked."""
    pending = ledger.pending_tokens()
    if not pending:
        return
    found: dict[str, str] = {}  # token -> job id
    answered = 0
    for cmd in (["squeue", "-h", "-o", "%F|%j"],  # queued now (accounting may lag behind)
                ["sacct", "-n", "-P", "-X", "-S", "now-30days", "-o", "JobID,JobName"]):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode != 0:
            continue
        answered += 1
        for line in done.stdout.splitlines():
            job_id, _, name = line.partition("|")
            token = name.rsplit(".", 1)[-1]
            if token in pending:
                found.setdefault(token, job_id.split("_")[0])
    if answered < 2:
        raise LedgerError("an earlier launch was interrupted while submitting, and SLURM cannot be asked "
                          "(squeue/sacct failed) which of its jobs exist; try again when they answer")
    for token, recs in pending.items():
        job = found.get(token)
        updates: list[tuple[str, str, str | None, dict[str, object]]] = []
        for rec in recs:
            if job is None:
                updates.append((rec.id, L.NEW, "an interrupted launch never submitted it", {"token": None}))
                continue
            array = len(recs) > 1 and rec.task_index is not None
            jid = f"{job}_{rec.task_index}" if array else job
            updates.append((rec.id, L.PENDING, "recovered from SLURM after an interrupted launch", {"job_id": jid}))
            log(f"recovered {rec.name}: job {jid}")
        ledger.set_states(updates)


def run_local(plan: Plan, ledger: Ledger, sel: Selection, log: Log) -> None:
    """Run the selected runs here, in dependency order, one after another."""
    for run in sel.submit:
        ups = [u for u in (ledger.get(d) for d in run.depends_on) if u is not None]
        failed = [u for u in ups if u.state in L.FAILED_STATES]
        waiting = [u for u in ups if u.state != L.COMPLETED and u not in failed]
        if failed:
            ledger.set_state(run.id, L.UPSTREAM_FAILED, f"{failed[0].name} ({failed[0].id}) "
                             f"{failed[0].state.lower()}", executor="local")
            log(f"skipped {run.name}: {failed[0].name} did not complete")
            continue
        if waiting:  # e.g. still running on SLURM from another launch: leave it for later
            log(f"not running {run.name} yet: {waiting[0].name} is {waiting[0].state.lower()}")
            continue
        ledger.set_state(run.id, L.RUNNING, executor="local", job_id=f"local:{os.getpid()}",
                         submitted_at=time.time())
        log(f"running {run.name} ({run.id}) ...")
        saved_port = os.environ.get("MASTER_PORT")
        os.environ["MASTER_PORT"] = str(free_port())
        try:
            for shard in range(run.shards):
                RunTask(run.run_dir, shard, run.shards)()
        except RunFailed as exc:
            ledger.set_state(run.id, L.FAILED, str(exc).splitlines()[0])
            log(f"FAILED {run.name}: see {run.run_dir}/logs")
        except KeyboardInterrupt:
            ledger.set_state(run.id, L.CANCELLED, "interrupted (Ctrl-C)")
            raise
        else:
            ledger.set_state(run.id, L.COMPLETED)
            log(f"completed {run.name}")
        finally:
            if saved_port is None:
                os.environ.pop("MASTER_PORT", None)
            else:
                os.environ["MASTER_PORT"] = saved_port
        block_dependents(ledger, plan.experiment)


def prepare(plan: Plan, ledger: Ledger, opts: LaunchOptions, log: Log) -> Selection:
    """Under the lock: reconcile and refresh (not for a dry run), then select."""
    if isinstance(opts.executor, SlurmExecutor) and not opts.dry_run:
        reconcile(ledger, log)
        refresh(ledger, plan.experiment)
    return select(plan, ledger, opts.force, opts.retry_failed)


def record(loaded: LoadedSpec, plan: Plan, ledger: Ledger, sel: Selection, opts: LaunchOptions) -> None:
    """Write run dirs and ledger rows for the runs about to be submitted."""
    extra = {"allow_dirty": opts.allow_dirty, "executor": opts.executor.name}
    prov = {**provenance(loaded), **extra}
    emit(plan, loaded, extra)
    ledger.record_experiment(plan.experiment, plan.kind, prov, opts.allow_dirty)
    ledger.upsert_planned(plan.experiment,
                          [(r.id, r.name, r.stage, r.run_dir, r.depends_on, r.shards) for r in plan.runs], prov)
    for run_id, upstream in sel.blocked.items():
        up = ledger.get(upstream)
        ledger.set_state(run_id, L.UPSTREAM_FAILED, f"{up.name if up else upstream} did not complete")
    if not opts.force:  # --retry-failed resumes from the last checkpoint, if any
        return
    for run in sel.submit:
        rec = ledger.get(run.id)
        if rec is None or rec.state == L.NEW:
            continue
        if rec.state in (L.PENDING, L.RUNNING) and rec.executor == "slurm" and rec.job_id:
            subprocess.run(["scancel", rec.job_id], capture_output=True, timeout=60, check=False)
            ledger.set_state(run.id, L.CANCELLED, "resubmitted with --force")
        _set_aside(Path(run.run_dir))  # a forced re-run starts afresh, not from the old checkpoint


def _set_aside(run_dir: Path) -> None:
    """Move an earlier attempt's checkpoints/outputs/tb under previous/<time>/."""
    moved = [d for d in ("checkpoints", "outputs", "tb") if (run_dir / d).exists()]
    if not moved:
        return
    dest = run_dir / "previous" / time.strftime("%Y%m%d-%H%M%S")
    dest.mkdir(parents=True, exist_ok=True)
    for d in moved:
        shutil.move(str(run_dir / d), str(dest / d))
