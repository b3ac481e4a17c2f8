"""Send a compiled plan to an executor and remember it in the ledger.

Under the ledger's lock: reconcile what a killed launch left behind, refresh states,
choose the runs to submit (idempotent: pending, running and completed runs are left
alone unless --force; failed ones are retried with --retry-failed), write their run
dirs, then submit unit by unit, recording each job before moving on.
"""

from __future__ import annotations

import os
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
from launch.ledger import Ledger
from launch.refresh import FAILED_STATES, block_dependents, refresh
from launch.units import Unit, group
from specs.loader import LoadedSpec


@dataclass
class Selection:
    submit: list[Run] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # run id -> why
    blocked: dict[str, str] = field(default_factory=dict)  # run id -> upstream that failed


@dataclass
class Submitted:
    unit: Unit
    job_ids: list[str]
    script: str


def select(plan: Plan, ledger: Ledger, force: bool, retry_failed: bool) -> Selection:
    sel = Selection()
    chosen: set[str] = set()
    for run in plan.runs:
        rec = ledger.get(run.id)
        state = rec.state if rec else L.NEW
        if not force and state in (L.PENDING, L.RUNNING, L.COMPLETED):
            sel.skipped[run.id] = state.lower()
            continue
        if not force and not retry_failed and state in FAILED_STATES:
            sel.skipped[run.id] = f"{state.lower()} (--retry-failed to run it again)"
            continue
        failed_up = [d for d in run.depends_on if d not in chosen and _state(ledger, d) in FAILED_STATES]
        if failed_up:
            sel.blocked[run.id] = failed_up[0]
            continue
        sel.submit.append(run)
        chosen.add(run.id)
    return sel


def _state(ledger: Ledger, run_id: str) -> str:
    rec = ledger.get(run_id)
    return rec.state if rec else L.NEW


def dependency(unit: Unit, job_of: Callable[[str], str | None], array_job_of: dict[int, str]) -> str | None:
    """The sbatch --dependency of a unit, from the job ids its upstream runs have."""
    parts = []
    for up in unit.corr_upstream:  # task i waits for upstream task i (a single job: for it)
        parts.append(f"{'aftercorr' if up.is_array else 'afterok'}:{array_job_of[id(up)]}")
    ok = [j for j in (job_of(d) for d in unit.ok_upstream) if j]
    if ok:
        parts.append("afterok:" + ":".join(ok))
    return ",".join(parts) or None


def folder(plan: Plan) -> Path:
    return Path(plan.output_root) / plan.experiment / ".submitit" / "%j"


def dry_run_scripts(plan: Plan, ledger: Ledger | None, executor: SlurmExecutor, sel: Selection) -> str:
    """What would be submitted: each unit's batch script (dependencies as placeholders)
    and the launch script its tasks run."""
    units = group(sel.submit)
    placeholders: dict[int, str] = {}
    run_unit: dict[str, Unit] = {}
    for n, unit in enumerate(units):
        placeholders[id(unit)] = f"%job{n}:{unit.stage}%"  # shell-safe: shown unquoted, as a real id
        for r in unit.runs:
            run_unit[r.id] = unit

    def job_of(run_id: str) -> str | None:
        if run_id in run_unit:
            u = run_unit[run_id]
            i = next(i for i, (r, _) in enumerate(u.tasks) if r.id == run_id)
            return f"{placeholders[id(u)]}_{i}" if u.is_array else placeholders[id(u)]
        rec = ledger.get(run_id) if ledger else None
        return rec.job_id if rec and rec.state in (L.PENDING, L.RUNNING) else None

    out = []
    for unit in units:
        params = executor.parameters(unit, plan.experiment, "%token%", dependency(unit, job_of, placeholders))
        script = executor.script(unit, folder(plan), params)
        runs = ", ".join(f"{r.name} ({r.id})" for r in unit.runs)
        out.append(f"### sbatch {placeholders[id(unit)]}: {len(unit.tasks)} task(s): {runs}\n{script}")
    for run in sel.submit:
        out.append(f"### {run.run_dir}/launch.sh (run {run.name}, each task runs it on its node)\n{run.script}")
    return "\n".join(out)


def submit_slurm(plan: Plan, ledger: Ledger, executor: SlurmExecutor, sel: Selection,
                 log: Callable[[str], None]) -> list[Submitted]:
    check_partitions({r.resources["partition"] for r in sel.submit if r.resources["partition"]})
    units = group(sel.submit)
    array_job: dict[int, str] = {}
    job_ids: dict[str, str] = {}

    def job_of(run_id: str) -> str | None:
        if run_id in job_ids:
            return job_ids[run_id]
        rec = ledger.get(run_id)
        return rec.job_id if rec and rec.state in (L.PENDING, L.RUNNING) else None

    done: list[Submitted] = []
    for unit in units:
        token = uuid.uuid4().hex[:8]
        params = executor.parameters(unit, plan.experiment, token, dependency(unit, job_of, array_job))
        script = executor.script(unit, folder(plan), params)
        now = time.time()
        ledger.set_states([(run.id, L.SUBMITTING, None, {"executor": "slurm", "token": token, "task_index": i,
                                                         "job_id": None, "submitted_at": now, "started_at": None})
                           for i, (run, shard) in enumerate(unit.tasks) if shard == 0])
        ids = executor.submit(unit, folder(plan), params)
        array_job[id(unit)] = ids[0].split("_")[0]
        pending = []
        for (run, shard), jid in zip(unit.tasks, ids, strict=True):
            if shard == 0:
                # a sharded run's job is its whole array: afterok on the array waits for every shard
                job_ids[run.id] = jid if run.shards == 1 else jid.split("_")[0]
                pending.append((run.id, L.PENDING, f"sbatch {jid}", {"job_id": job_ids[run.id]}))
        ledger.set_states(pending)
        log(f"submitted {unit.stage}: {len(unit.tasks)} task(s) as job {array_job[id(unit)]}"
            + (f" (after {params['dependency']})" if "dependency" in params else ""))
        done.append(Submitted(unit, ids, script))
    return done


def reconcile(ledger: Ledger, log: Callable[[str], None]) -> None:
    """Complete what a launch killed between sbatch and the ledger left behind: runs in
    SUBMITTING whose job (found by the token in its name) exists get that job."""
    pending = ledger.pending_tokens()
    if not pending:
        return
    found: dict[str, str] = {}  # token -> (array) job id
    queries = (["squeue", "-h", "-o", "%F|%j"],  # queued now (accounting may lag behind)
               ["sacct", "-n", "-P", "-X", "-S", "now-30days", "-o", "JobID,JobName"])
    for cmd in queries:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            job_id, _, name = line.partition("|")
            token = name.rsplit(".", 1)[-1]
            if token in pending:
                found.setdefault(token, job_id.split("_")[0])
    for token, recs in pending.items():
        job = found.get(token)
        for rec in recs:
            if job is None:
                ledger.set_state(rec.id, L.NEW, detail="an interrupted launch never submitted it")
                continue
            jid = job if rec.task_index is None else f"{job}_{rec.task_index}"
            is_array = len(recs) > 1 or _is_array(job)
            ledger.set_state(rec.id, L.PENDING, job_id=jid if is_array else job,
                             detail="recovered from SLURM after an interrupted launch")
            log(f"recovered {rec.name}: job {jid if is_array else job}")


def _is_array(job: str) -> bool:
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID"], capture_output=True, text=True,
                         timeout=60, check=False).stdout
    return "_" in out


def run_local(plan: Plan, ledger: Ledger, sel: Selection, log: Callable[[str], None]) -> None:
    """Run the selected runs here, in dependency order, one after another."""
    for run in sel.submit:
        ups = [ledger.get(d) for d in run.depends_on]
        bad = [u for u in ups if u is not None and u.state != L.COMPLETED]
        if bad:
            ledger.set_state(run.id, L.UPSTREAM_FAILED, executor="local",
                             detail=f"{bad[0].name} ({bad[0].id}) {bad[0].state.lower()}")
            log(f"skipped {run.name}: {bad[0].name} did not complete")
            continue
        ledger.set_state(run.id, L.RUNNING, executor="local", job_id=f"local:{os.getpid()}",
                         submitted_at=time.time(), started_at=None)
        log(f"running {run.name} ({run.id}) ...")
        env_port = os.environ.get("MASTER_PORT")
        os.environ["MASTER_PORT"] = str(free_port())
        try:
            for shard in range(run.shards):
                RunTask(run.run_dir, shard, run.shards)()
        except RunFailed as exc:
            ledger.set_state(run.id, L.FAILED, detail=str(exc).splitlines()[0])
            log(f"FAILED {run.name}: see {run.run_dir}/logs")
        else:
            ledger.set_state(run.id, L.COMPLETED)
            log(f"completed {run.name}")
        finally:
            if env_port is None:
                os.environ.pop("MASTER_PORT", None)
            else:
                os.environ["MASTER_PORT"] = env_port
        block_dependents(ledger, plan.experiment)


@dataclass
class LaunchOptions:
    executor: SlurmExecutor | LocalExecutor
    force: bool = False
    retry_failed: bool = False
    allow_dirty: bool = False
    dry_run: bool = False


def prepare(loaded: LoadedSpec, plan: Plan, ledger: Ledger, opts: LaunchOptions,
            log: Callable[[str], None]) -> Selection:
    """Under the lock: reconcile, refresh, select (no writes for a dry run beyond refresh)."""
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
    ledger.upsert_planned(plan.experiment, [(r.id, r.name, r.stage, r.run_dir, r.depends_on) for r in plan.runs],
                          prov)
    for run_id, upstream in sel.blocked.items():
        up = ledger.get(upstream)
        ledger.set_state(run_id, L.UPSTREAM_FAILED, detail=f"{up.name if up else upstream} failed")
    if opts.force:
        for run in sel.submit:
            rec = ledger.get(run.id)
            if rec and rec.state in (L.PENDING, L.RUNNING) and rec.executor == "slurm" and rec.job_id:
                subprocess.run(["scancel", rec.job_id], capture_output=True, timeout=60, check=False)
                ledger.set_state(run.id, L.CANCELLED, detail="resubmitted with --force")
