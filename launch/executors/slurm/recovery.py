"""Completing what a launch killed while it submitted left behind (runs in SUBMITTING)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from launch import ledger as L
from launch.ledger import Ledger, LedgerError

Log = Callable[[str], None]


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
