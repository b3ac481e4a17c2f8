"""`labspec diff RUN_A RUN_B`: why two runs' numbers differ, in one command.

Config, code, environment and upstream runs, from what the two run dirs recorded
(`launch.diff`); each run is a run dir, or a run id, id prefix or name in the ledger.
"""

from __future__ import annotations

import argparse
import json
import sys

from launch.cli_support import add_root


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="run dir, or run id (or a unique prefix) or run name")
    parser.add_argument("run_b", metavar="RUN_B", help="the run to compare it with, named the same ways")
    add_root(parser)
    parser.add_argument("--code-diff", action="store_true",
                        help="also print a unified diff of the code files that differ (from the code snapshots)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from launch.diff import Runs, diff_runs

    with Runs(args.root) as runs:
        a = runs.resolve(args.run_a, "RUN_A")
        b = runs.resolve(args.run_b, "RUN_B")
        result = diff_runs(a, b, runs, code_diff=args.code_diff)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(result.text())
    return 0
