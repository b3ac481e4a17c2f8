"""`labspec cancel EXPERIMENT|RUN`: cancel runs and everything that depends on them."""

from __future__ import annotations

import argparse
import subprocess
import sys

from launch.cli.target import add_root, open_target
from launch.ledger import RunRecord


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="EXPERIMENT|RUN")
    add_root(parser)


def run(args: argparse.Namespace) -> int:
    from launch import ledger as L
    from launch.local import stop_run
    from launch.refresh import refresh

    ledger, experiment = open_target(args.target, args.root)
    with ledger, ledger.locked():
        refresh(ledger, experiment)
        if experiment is not None:  # an experiment (by name or spec): all of its runs
            chosen = {r.id for r in ledger.runs(experiment)}
        else:
            root = ledger.find(args.target, experiment)
            chosen = {root.id} | dependents(ledger.runs(root.experiment), root.id)
        cancelled = 0
        for rec in ledger.runs():
            if rec.id not in chosen or rec.state not in (L.NEW, L.INTERRUPTED, *L.ACTIVE):
                continue
            ledger.set_state(rec.id, L.CANCELLED, detail="labspec cancel")  # first: its launcher leaves it so
            if rec.executor == "slurm" and rec.job_id:
                subprocess.run(["scancel", rec.job_id], capture_output=True, timeout=60, check=False)
            elif rec.executor == "local" and rec.state == L.RUNNING:
                stop_run(rec.run_dir, lambda msg: print(msg, file=sys.stderr))
            cancelled += 1
            print(f"cancelled {rec.name} ({rec.id}){' job ' + rec.job_id if rec.job_id else ''}")
    print(f"{cancelled} run(s) cancelled", file=sys.stderr)
    return 0


def dependents(runs: list[RunRecord], run_id: str) -> set[str]:
    out: set[str] = set()
    frontier = {run_id}
    while frontier:
        nxt = {r.id for r in runs if set(r.depends_on) & frontier} - out
        out |= nxt
        frontier = nxt
    return out
