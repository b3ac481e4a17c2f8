"""`labspec logs RUN [-f]`: a run's output (and errors), optionally followed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from launch.cli_support import add_root, open_target


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_name", metavar="RUN", help="run id (or a unique prefix) or run name")
    add_root(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    parser.add_argument("--err", action="store_true", help="the error log instead of the output")
    parser.add_argument("--node", default="0", help="which node's log of a multi-node run (default 0)")


def run(args: argparse.Namespace) -> int:
    from launch import ledger as L
    from launch.refresh import refresh

    ledger, experiment = open_target(args.run_name, args.root)
    with ledger:
        rec = ledger.find(args.run_name, experiment)
        suffix = "err" if args.err else "out"
        offsets: dict[Path, int] = {}
        while True:
            # node<N>.out, or shard<S>.node<N>.out for each shard of a sharded run
            paths = sorted(Path(rec.run_dir, "logs").glob(f"*node{args.node}.{suffix}"))
            for path in paths:
                with open(path, "rb") as fh:
                    fh.seek(offsets.get(path, 0))
                    chunk = fh.read()
                offsets[path] = offsets.get(path, 0) + len(chunk)
                if chunk and len(paths) > 1:
                    sys.stdout.write(f"--- {path.name}\n")
                sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
            finished = rec.state not in L.ACTIVE  # done, failed, interrupted, or never started: nothing to follow
            if not args.follow or finished:
                if not paths:
                    gone = "" if Path(rec.run_dir).is_dir() else " (its run dir is gone)"
                    print(f"no log for {rec.name} under {rec.run_dir}/logs (state: {rec.state}){gone}",
                          file=sys.stderr)
                return 0
            time.sleep(1.0)
            refresh(ledger, rec.experiment)
            rec = ledger.get(rec.id) or rec
