"""`labspec cancel EXPERIMENT|RUN`: cancel runs and everything that depends on them."""

from __future__ import annotations

import argparse
import sys

from launch.cli_support import add_root, open_target
from launch.ledger import RunRecord


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="EXPERIMENT|RUN")
    add_root(parser)
    parser.add_argument("--grace", type=float, default=60.0, metavar="S",
                        help="seconds a local run gets to save a checkpoint before it is killed (default 60)")


def run(args: argparse.Namespace) -> int:
    from launch import ledger as L
    from launch.executors import for_record
    from launch.refresh import refresh
    from specs.errors import LabspecError

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    ledger, experiment = open_target(args.target, args.root)
    stopping: list[RunRecord] = []
    with ledger:
        with ledger.locked():
            refresh(ledger, experiment)
            if experiment is not None:  # an experiment (by name or spec): all of its runs
                chosen = {r.id for r in ledger.runs(experiment)}
            else:
                root = ledger.find(args.target, experiment)
                chosen = {root.id} | dependents(ledger.runs(root.experiment), root.id)
            cancelled, failed = 0, 0
            for rec in ledger.runs():
                if rec.id not in chosen or rec.state not in (L.NEW, L.INTERRUPTED, *L.ACTIVE):
                    continue
                if rec.job_id and rec.executor != "local":  # a queued job: gone first, or nothing changes
                    try:
                        for_record(rec).cancel(rec, say)
                    except LabspecError as exc:
                        say(f"error: {rec.name} ({rec.id}): {exc}")
                        failed += 1
                        continue
                ledger.set_state(rec.id, L.CANCELLED, detail="labspec cancel")  # its launcher leaves it so
                if rec.executor == "local" and rec.state == L.RUNNING:
                    stopping.append(rec)
                cancelled += 1
                print(f"cancelled {rec.name} ({rec.id}){' job ' + rec.job_id if rec.job_id else ''}")
        for rec in stopping:  # outside the ledger's lock: its launcher records the end meanwhile
            from launch.executors.local import stop_run

            stop_run(rec.run_dir, say, grace_s=args.grace)
    say(f"{cancelled} run(s) cancelled" + (f", {failed} could not be" if failed else ""))
    return 1 if failed else 0


def dependents(runs: list[RunRecord], run_id: str) -> set[str]:
    out: set[str] = set()
    frontier = {run_id}
    while frontier:
        nxt = {r.id for r in runs if set(r.depends_on) & frontier} - out
        out |= nxt
        frontier = nxt
    return out
