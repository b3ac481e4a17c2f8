"""`labspec schema`: the JSON Schema of the spec language (for editors and CI checks)."""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--partial", action="store_true",
                        help="nothing required: for specs that extend a base spec")


def run(args: argparse.Namespace) -> int:
    from specs.schema import render

    sys.stdout.write(render(partial=args.partial))
    return 0
