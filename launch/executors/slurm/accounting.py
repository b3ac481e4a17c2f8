"""The ledger's SLURM runs brought up to date from accounting (submitit's sacct watcher)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from launch import ledger as L
from launch.ledger import Ledger, RunRecord

# SLURM's states -> ledger states (the first word: "CANCELLED by 0" -> CANCELLED)
_SLURM = {
    "PENDING": L.PENDING, "REQUEUED": L.PENDING, "REQUEUE_HOLD": L.PENDING, "REQUEUE_FED": L.PENDING,
    "CONFIGURING": L.PENDING, "RESV_DEL_HOLD": L.PENDING,
    "RUNNING": L.RUNNING, "COMPLETING": L.RUNNING, "SUSPENDED": L.RUNNING, "RESIZING": L.RUNNING,
    "STAGE_OUT": L.RUNNING, "SIGNALING": L.RUNNING,
    "COMPLETED": L.COMPLETED, "FAILED": L.FAILED, "CANCELLED": L.CANCELLED, "TIMEOUT": L.TIMEOUT,
    "OUT_OF_MEMORY": "OUT_OF_MEMORY", "NODE_FAIL": "NODE_FAIL", "BOOT_FAIL": "BOOT_FAIL",
    "DEADLINE": "DEADLINE", "PREEMPTED": "PREEMPTED",  # a requeued job shows REQUEUED, then PENDING
}


@dataclass(frozen=True)
class JobInfo:
    state: str
    start: float | None
    end: float | None


def slurm_states(job_ids: Iterable[str]) -> dict[str, JobInfo]:
    """Ledger states (and start/end times) of SLURM jobs ("123" or "123_4"): submitit's
    sacct watcher, one call for all of them."""
    from launch.executors.slurm.cluster import config_problem

    ids = sorted(set(job_ids))
    if not ids:
        return {}
    if (problem := config_problem()) is not None:
        print(f"warning: cannot ask SLURM about its jobs: {problem}", file=sys.stderr)
        return {}
    watcher = _watcher()
    for jid in ids:
        watcher.register_job(jid)
    try:
        watcher.update()
    except (OSError, subprocess.SubprocessError):
        return {}
    out: dict[str, JobInfo] = {}
    for jid in ids:
        info = watcher.get_info(jid, mode="cache")
        raw = (info.get("State") or "").split(" ")[0]
        if raw in _SLURM:
            out[jid] = JobInfo(_SLURM[raw], _time(info.get("Start")), _time(info.get("End")))
    return out


def _watcher() -> Any:
    from submitit.slurm.slurm import SlurmInfoWatcher

    class TimedWatcher(SlurmInfoWatcher):
        """submitit's watcher, also asking sacct for start and end times."""

        def _make_command(self) -> list[str] | None:
            command = super()._make_command()
            if command is not None:
                command[command.index("-o") + 1] += ",Start,End"
            return command

    return TimedWatcher(delay_s=0)


def _time(text: str | None) -> float | None:
    if not text or text in ("Unknown", "None"):
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _tasks(r: RunRecord) -> list[str]:
    """The SLURM tasks of a run: its job, or every task of a sharded run's array."""
    assert r.job_id is not None
    if r.shards > 1:
        return [f"{r.job_id}_{i}" for i in range(r.shards)]
    return [r.job_id]


def _combined(infos: list[JobInfo | None]) -> JobInfo | None:
    """A sharded run's state from its shards': any failure fails it; all done completes it."""
    known = [i for i in infos if i is not None]
    if not known:
        return None
    states = [i.state for i in known]
    failed = [s for s in states if s in L.FAILED_STATES]
    if failed:
        state = failed[0]
    elif len(known) == len(infos) and all(s == L.COMPLETED for s in states):
        state = L.COMPLETED
    elif any(s in (L.RUNNING, L.COMPLETED) for s in states):
        state = L.RUNNING
    else:
        state = L.PENDING
    starts = [i.start for i in known if i.start is not None]
    ends = [i.end for i in known if i.end is not None]
    return JobInfo(state, min(starts) if starts else None,
                   max(ends) if ends and state in L.TERMINAL else None)


def refresh_slurm(ledger: Ledger, experiment: str | None = None) -> None:
    """Update active SLURM runs from sacct."""
    active = [r for r in ledger.runs(experiment) if r.state in (L.PENDING, L.RUNNING)
              and r.executor == "slurm" and r.job_id]
    states = slurm_states(t for r in active for t in _tasks(r))
    for r in active:
        info = _combined([states.get(t) for t in _tasks(r)])
        if info is None:
            continue
        times = {k: v for k, v in (("started_at", info.start), ("ended_at", info.end)) if v is not None}
        if info.state != r.state or times:
            ledger.set_state(r.id, info.state, detail="from sacct", **times)
