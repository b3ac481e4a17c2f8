"""`labspec report EXPERIMENT`: the best grid point per held-out metric, a table per stage
and plots, written as report.md and report.html (plots inline) under the experiment's
directory; the tables and prose are printed too."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from launch.cli_support import add_root, open_target
from specs.errors import LabspecError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="EXPERIMENT", help="experiment name or spec file")
    add_root(parser)


def run(args: argparse.Namespace) -> int:
    from launch.refresh import refresh
    from launch.report import write_report

    ledger, experiment = open_target(args.target, args.root)
    with ledger:
        if experiment is None:
            raise LabspecError(f"{args.target!r} is a run; report takes an experiment")
        runs = refresh(ledger, experiment)
        root = ledger.root
    report = write_report(experiment, runs, Path(root, experiment, "report"))
    print(report.terminal)
    print(f"wrote {report.markdown}")
    print(f"wrote {report.html} (plots inline)")
    if report.images:
        print(f"      and {len(report.images)} PNG plot{'s' if len(report.images) > 1 else ''} beside them")
    print(f"look closer: labspec tb {shlex.quote(experiment)} --root {shlex.quote(str(root))}")
    return 0
