"""`labspec tb EXPERIMENT`: TensorBoard over the experiment's runs, each under its name."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from launch.cli.target import add_root, open_target
from launch.ledger import RunRecord
from specs.errors import LabspecError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="EXPERIMENT", help="experiment name or spec file")
    add_root(parser)
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--host", default="127.0.0.1")


def logdir_spec(runs: list[RunRecord]) -> str:
    """TensorBoard's --logdir_spec: name:dir pairs (names without ':' or ',')."""
    parts = []
    for r in runs:
        name = r.name.replace(":", "_").replace(",", "_")
        parts.append(f"{name}:{Path(r.run_dir, 'tb')}")
    timeline = Path(runs[0].run_dir).parent / "timeline" if runs else None
    if timeline is not None and timeline.is_dir():  # iterative routes' figures on one axis (runtime.tb)
        parts.append(f"timeline:{timeline}")
    return ",".join(parts)


def run(args: argparse.Namespace) -> int:
    ledger, experiment = open_target(args.target, args.root)
    with ledger:
        runs = ledger.runs(experiment)
    if not runs:
        raise LabspecError(f"no runs recorded for {args.target}")
    exe = shutil.which("tensorboard") or str(Path(sys.executable).with_name("tensorboard"))
    if not Path(exe).exists():
        raise LabspecError("tensorboard is not installed here (pip install tensorboard)")
    cmd = [exe, "--logdir_spec", logdir_spec(runs), "--host", args.host, "--port", str(args.port)]
    print(f"TensorBoard for {experiment or args.target}: http://{args.host}:{args.port}/", flush=True)
    sys.stderr.flush()
    os.execv(exe, cmd)  # become TensorBoard: Ctrl-C or a signal stops it, no orphan left behind
