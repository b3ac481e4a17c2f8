"""`labspec logs RUN [-f]`: a run's output (and errors), optionally followed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from launch.cli.target import add_root, open_target


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
        path = Path(rec.run_dir, "logs", f"node{args.node}.{'err' if args.err else 'out'}")
        offset = 0
        while True:
            if path.exists():
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                    offset += len(chunk)
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            if not args.follow:
                if not path.exists():
                    print(f"no log yet at {path} (state: {rec.state})", file=sys.stderr)
                return 0
            refresh(ledger, rec.experiment)
            rec = ledger.get(rec.id) or rec
            if rec.state in L.TERMINAL:
                return 0
            time.sleep(1.0)
