"""`labspec validate SPEC...`: exit 0 when every spec (and every sweep point) is valid."""

from __future__ import annotations

import argparse
import sys

from launch.cli_support import add_overrides, load_and_compile


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (.yaml or .py)")
    add_overrides(parser)


def run(args: argparse.Namespace) -> int:
    from specs.errors import LabspecError

    failed = 0
    for spec in args.specs:
        try:
            _, plan = load_and_compile(spec, args.overrides)
        except LabspecError as exc:
            failed += 1
            print(f"{spec}: {exc}", file=sys.stderr)
            continue
        print(f"{spec}: ok ({plan.kind}, {len(plan.runs)} runs)")
    return 1 if failed else 0
