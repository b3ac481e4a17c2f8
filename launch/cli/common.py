"""Arguments and steps that several subcommands share."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.plan import Plan
    from specs.loader import LoadedSpec


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--override", dest="overrides", action="append", default=[], metavar="K=V",
        help="set a field, e.g. -o training.lr=2e-5 or -o sweep.grid.training.lr=[1e-5,2e-5] "
        "(values are YAML; repeatable)",
    )


def load_and_compile(spec: str, overrides: list[str], output_root: str | None = None) -> tuple[LoadedSpec, Plan]:
    from compiler import compile
    from specs.loader import load_spec

    loaded = load_spec(spec, overrides)
    plan = compile(loaded, output_root=output_root)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return loaded, plan
