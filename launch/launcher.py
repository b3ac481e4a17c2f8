"""Choose a compiled plan's runs and record them in the ledger, for an executor.

Under the ledger's lock: the executor reconciles what a killed launch left behind, states
are refreshed, the runs to start are selected (idempotent: pending, running and
completed runs are left alone unless --force; failed ones are retried with
--retry-failed; a run whose processes are still alive is never started twice), and
their run dirs and ledger rows written; then the executor submits or runs them.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.plan import Plan, Run
from launch import ledger as L
from launch import rundir, snapshot, tb_farm
from launch.emit import emit, provenance, same_run
from launch.executors import Executor, for_record
from launch.job import LOCK_WAIT_S
from launch.ledger import Ledger
from launch.refresh import refresh
from launch.snapshot import Snapshot
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
    executor: Executor
    force: bool = False
    retry_failed: bool = False
    allow_dirty: bool = False
    dry_run: bool = False
    code: Snapshot | None = None  # the code its jobs run (launch.snapshot); None: the installed code


def select(plan: Plan, ledger: Ledger, force: bool, retry_failed: bool) -> Selection:
    sel = Selection()
    chosen: set[str] = set()
    cancel_hint = f"labspec cancel {{}} --root {shlex.quote(plan.output_root)}"
    for run in plan.runs:
        rec = ledger.get(run.id)
        state = rec.state if rec else L.NEW
        slurm_active = rec is not None and rec.executor == "slurm" and state in L.ACTIVE
        owners = [] if slurm_active else rundir.live_owners(run.run_dir)  # a SLURM job: scancel'd by --force
        if owners:
            if force:
                raise LabspecError(f"{run.name} ({run.id}) is still running ({owners[0].describe()}); --force never "
                                   f"starts a second writer in its run dir: {cancel_hint.format(run.id)}, "
                                   "wait for it to end, then launch again")
            sel.skipped[run.id] = f"running ({owners[0].describe()})"  # whatever the ledger says: never twice
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


def prepare(plan: Plan, ledger: Ledger, opts: LaunchOptions, log: Log) -> Selection:
    """Under the lock: reconcile and refresh (not for a dry run), then select."""
    if not opts.dry_run:
        opts.executor.reconcile(ledger, log)
        refresh(ledger, plan.experiment, strict=True)  # local runs whose launcher died, too
    return select(plan, ledger, opts.force, opts.retry_failed)


def record(loaded: LoadedSpec, plan: Plan, ledger: Ledger, sel: Selection, opts: LaunchOptions) -> None:
    """Write run dirs and ledger rows for the runs about to be submitted."""
    extra: dict[str, Any] = {"allow_dirty": opts.allow_dirty, "executor": opts.executor.name}
    if opts.code is not None:  # first: nothing is written or submitted when it cannot be stored
        snapshot.store(opts.code, plan.output_root)
        extra["code"] = opts.code.provenance(plan.output_root)
    prov = {**provenance(loaded), **extra}
    emit(plan, loaded, extra, submit={r.id for r in sel.submit})
    ledger.record_experiment(plan.experiment, plan.kind, prov, opts.allow_dirty)
    ledger.upsert_planned(plan.experiment,
                          [(r.id, r.name, r.stage, r.run_dir, r.depends_on, r.shards, r.coordinates)
                           for r in plan.runs], prov)
    if opts.code is not None:
        ledger.set_code([r.id for r in sel.submit], opts.code.id)
    tb_farm.farm(ledger.runs(plan.experiment), tb_farm.farm_dir(ledger.root, plan.experiment))  # a running tb follows
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
        if rec.state in L.ACTIVE and rec.job_id:  # select() refused what runs here: this is a queued job
            for_record(rec).cancel(rec)
            ledger.set_state(run.id, L.CANCELLED, "resubmitted with --force")
            if not rundir.wait_released(run.run_dir, LOCK_WAIT_S):  # it saves a checkpoint on its way out
                raise LabspecError(f"{run.name}'s job {rec.job_id} was cancelled, but its processes still hold "
                                   f"{run.run_dir} after {LOCK_WAIT_S:.0f}s; launch again once they have ended")
        _set_aside(Path(run.run_dir))  # a forced re-run starts afresh, not from the old checkpoint
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
