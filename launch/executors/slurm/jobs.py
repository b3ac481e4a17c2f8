"""A plan's runs as SLURM jobs: one job (an array when several tasks) per submission unit
(`arrays`), SLURM dependencies between units, the ledger updated around every sbatch (a
token in the job name lets an interrupted launch be completed by the next,
`recovery.reconcile`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.plan import Plan
from launch import ledger as L
from launch.executors.slurm.arrays import Unit, group
from launch.ledger import Ledger
from specs.errors import LabspecError

if TYPE_CHECKING:
    from launch.executors.slurm import SlurmExecutor
    from launch.launcher import Selection

Log = Callable[[str], None]


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


def submit_plan(plan: Plan, ledger: Ledger, executor: SlurmExecutor, sel: Selection, log: Log) -> None:
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
            ids = executor.submit_unit(unit, folder(plan), params)
        except BaseException:
            ledger.set_states([(r.id, L.NEW, "sbatch refused it", {"token": None}) for r in unit.runs])
            raise
        jobs.add(unit, ids[0].split("_")[0])
        ledger.set_states([(run.id, L.PENDING, f"sbatch {jobs.of_run[run.id]}", {"job_id": jobs.of_run[run.id]})
                           for run in unit.runs])
        log(f"submitted {unit.stage}: {len(unit.tasks)} task(s) as job {jobs.of_unit[id(unit)]}"
            + (f" (after {params['dependency']})" if "dependency" in params else ""))
