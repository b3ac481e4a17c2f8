"""`labspec report EXPERIMENT`: a Markdown table of every run's final metrics against its
swept values, and PNG plots, written under the experiment's directory."""

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
    from launch.report import rehearsal_banner, table, write_report

    ledger, experiment = open_target(args.target, args.root)
    with ledger:
        if experiment is None:
            raise LabspecError(f"{args.target!r} is a run; report takes an experiment")
        runs = refresh(ledger, experiment)
        root = ledger.root
    out = Path(root, experiment, "report")
    section, files = write_report(experiment, runs, out)
    print(rehearsal_banner(experiment) + table(runs))
    if section:
        print(section)
    for path in files:
        print(f"wrote {path}")
    print(f"look closer: labspec tb {shlex.quote(experiment)} --root {shlex.quote(str(root))}")
    return 0
