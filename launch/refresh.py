"""Bring the ledger up to date with what the runs are doing (SLURM's accounting, the local
runs' run dirs), and mark what can no longer start because something it depends on failed."""

from __future__ import annotations

import sys

from launch import ledger as L
from launch import rundir
from launch.ledger import Ledger, LedgerError, RunRecord


def reconcile_local(ledger: Ledger, experiment: str | None = None) -> None:
    """Local runs the ledger shows RUNNING whose processes are all gone (their launcher was
    killed): COMPLETED when their run dir says so, else INTERRUPTED (resumed next launch)."""
    for r in ledger.runs(experiment):
        if r.executor != "local" or r.state != L.RUNNING or rundir.live_owners(r.run_dir):
            continue
        if rundir.completed(r.run_dir, r.shards):
            ledger.set_state_if(r.id, (L.RUNNING,), L.COMPLETED, "finished after its launcher ended (run dir)")
        else:
            ledger.set_state_if(r.id, (L.RUNNING,), L.INTERRUPTED,
                                "its launcher ended before it did; launch again to resume it")


def refresh(ledger: Ledger, experiment: str | None = None, strict: bool = False) -> list[RunRecord]:
    """Update active SLURM runs from sacct and local runs from their run dirs, then
    propagate upstream failures. A ledger that cannot be written (a full disk) is shown
    as it is, with a warning, unless `strict` (a launch must not go on then)."""
    from launch.executors.slurm.accounting import refresh_slurm

    try:
        reconcile_local(ledger, experiment)
        refresh_slurm(ledger, experiment)
        block_dependents(ledger, experiment)
    except LedgerError as exc:
        if strict:
            raise
        print(f"warning: {exc}. Showing the ledger as it was", file=sys.stderr)
    return ledger.runs(experiment)


def block_dependents(ledger: Ledger, experiment: str | None = None) -> list[RunRecord]:
    """Runs waiting on a failed run can never start: cancel their jobs, mark them."""
    from launch.executors import for_record

    blocked: list[RunRecord] = []
    changed = True
    while changed:  # a chain of dependents fails one link per pass
        changed = False
        runs = {r.id: r for r in ledger.runs(experiment)}
        for r in runs.values():
            if r.state not in (L.NEW, L.PENDING, L.SUBMITTING):
                continue
            bad = [d for d in r.depends_on if d in runs and runs[d].state in L.FAILED_STATES]
            if not bad:
                continue
            if r.job_id:
                for_record(r).cancel(r, quiet=True)
            up = runs[bad[0]]
            ledger.set_state(r.id, L.UPSTREAM_FAILED, detail=f"{up.name} ({up.id}) {up.state.lower()}")
            blocked.append(r)
            changed = True
    return blocked
