"""Send a compiled plan to an executor and remember it in the ledger.

Under the ledger's lock: reconcile what a killed launch left behind, refresh states,
choose the runs to submit (idempotent: pending, running and completed runs are left
alone unless --force; failed ones are retried with --retry-failed), write their run
dirs, then submit unit by unit in dependency order, recording each job before moving on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compiler.plan import Plan, Run
from launch import ledger as L
from launch import rundir
from launch.emit import emit, provenance, same_run
from launch.executors import LocalExecutor, SlurmExecutor, check_partitions
from launch.ledger import Ledger, LedgerError
from launch.refresh import refresh
from launch.units import Unit, group
from specs.errors import LabspecError
from specs.loader import LoadedSpec

Log = Callable[[str], None]


@dataclass
class Selection:
    submit: list[Run] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # run id -> why
    blocked: dict[str, str] = field(default_factory=dict)  # run id -> the upstream run that failed
    adopted: list[Run] = field(default_factory=list)  # done in their run dirs, unknown to the ledger


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
        if state == L.RUNNING and rec is not None and rec.executor == "local":
            owners = rundir.live_owners(run.run_dir)
            if owners and force:
                raise LabspecError(f"{run.name} ({run.id}) is running ({owners[0].describe()}); --force never "
                                   f"starts a second writer in its run dir: labspec cancel {run.id} first")
            sel.skipped[run.id] = f"running ({owners[0].describe()})" if owners else "running"
            continue
        if state == L.NEW and _done_on_disk(run):
            sel.adopted.append(run)
            sel.skipped[run.id] = "completed (found in their run dirs; the ledger had no record of them)"
            continue
        if not force and state == L.COMPLETED and not Path(run.run_dir, "run.json").is_file():
            sel.skipped[run.id] = "completed, but their run dirs are gone (--force runs them again)"
            continue
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


def _done_on_disk(run: Run) -> bool:
    """The run dir holds this very run (same run.json), and an attempt of it completed."""
    if not rundir.completed(run.run_dir, run.shards):
        return False
    try:
        on_disk = json.loads(Path(run.run_dir, "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(on_disk, dict) and same_run(on_disk, run.config)


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
    others were never submitted. A job whose task files submitit never moved into place
    (killed between sbatch and that move) would fail on its node: it is cancelled and its
    runs submitted again. Refuses to guess when SLURM cannot be asked."""
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
        tasks = {rec.id: _task_ids(job, rec, len(recs)) for rec in recs} if job else {}
        if job and not all(_submitted(rec, t) for rec in recs for t in tasks[rec.id]):
            subprocess.run(["scancel", job], capture_output=True, timeout=60, check=False)
            _drop_stray_pickles(recs)
            log(f"cancelled job {job}: an interrupted launch submitted it without its task files; "
                f"submitting {', '.join(r.name for r in recs)} again")
            job = None
        for rec in recs:
            if job is None:
                updates.append((rec.id, L.NEW, "an interrupted launch never submitted it", {"token": None}))
                continue
            jid = tasks[rec.id][0] if rec.shards == 1 else job
            updates.append((rec.id, L.PENDING, "recovered from SLURM after an interrupted launch", {"job_id": jid}))
            log(f"recovered {rec.name}: job {jid}")
        ledger.set_states(updates)


def _task_ids(job: str, rec: L.RunRecord, runs_in_job: int) -> list[str]:
    """The SLURM task ids of a run in `job`: an array task, a sharded run's tasks, or the job."""
    if rec.shards > 1:
        return [f"{job}_{i}" for i in range(rec.shards)]
    if runs_in_job > 1 and rec.task_index is not None:
        return [f"{job}_{rec.task_index}"]
    return [job]


def _submitted(rec: L.RunRecord, task_id: str) -> bool:
    """submitit's task file for `task_id` is where the job will look for it."""
    return (Path(rec.run_dir).parent / ".submitit" / task_id / f"{task_id}_submitted.pkl").is_file()


def _drop_stray_pickles(recs: list[L.RunRecord]) -> None:
    """submitit's temporary task files that were never moved (only an interrupted launch
    leaves them: launches of one output root are serialised by the ledger's lock)."""
    for folder in {Path(r.run_dir).parent / ".submitit" for r in recs}:
        for stray in folder.glob("*.pkl"):
            stray.unlink(missing_ok=True)


def prepare(plan: Plan, ledger: Ledger, opts: LaunchOptions, log: Log) -> Selection:
    """Under the lock: reconcile and refresh (not for a dry run), then select."""
    if not opts.dry_run:
        if isinstance(opts.executor, SlurmExecutor):
            reconcile(ledger, log)
        refresh(ledger, plan.experiment, strict=True)  # local runs whose launcher died, too
    return select(plan, ledger, opts.force, opts.retry_failed)


def record(loaded: LoadedSpec, plan: Plan, ledger: Ledger, sel: Selection, opts: LaunchOptions) -> None:
    """Write run dirs and ledger rows for the runs about to be submitted."""
    extra = {"allow_dirty": opts.allow_dirty, "executor": opts.executor.name}
    prov = {**provenance(loaded), **extra}
    emit(plan, loaded, extra)
    ledger.record_experiment(plan.experiment, plan.kind, prov, opts.allow_dirty)
    ledger.upsert_planned(plan.experiment,
                          [(r.id, r.name, r.stage, r.run_dir, r.depends_on, r.shards, r.coordinates)
                           for r in plan.runs], prov)
    for run_id, upstream in sel.blocked.items():
        up = ledger.get(upstream)
        ledger.set_state(run_id, L.UPSTREAM_FAILED, f"{up.name if up else upstream} did not complete")
    for run in sel.adopted:
        ledger.set_state(run.id, L.COMPLETED, "adopted: its run dir shows it completed (the ledger had no record)")
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
        if not isinstance(opts.executor, SlurmExecutor):
            ledger.set_state(run.id, L.NEW, "to run again (--force)", job_id=None, started_at=None, ended_at=None)


def _set_aside(run_dir: Path) -> None:
    """Move an earlier attempt's checkpoints/outputs/tb under previous/<time>/."""
    rundir.clear_completed(run_dir)
    moved = [d for d in ("checkpoints", "outputs", "tb") if (run_dir / d).exists()]
    if not moved:
        return
    dest = run_dir / "previous" / time.strftime("%Y%m%d-%H%M%S")
    dest.mkdir(parents=True, exist_ok=True)
    for d in moved:
        shutil.move(str(run_dir / d), str(dest / d))
