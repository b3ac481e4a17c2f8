"""`labspec tb EXPERIMENT`: TensorBoard over the experiment's runs, each under its name."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from launch.cli.target import add_root, open_target
from launch.ledger import RunRecord
from specs.errors import LabspecError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="EXPERIMENT", help="experiment name or spec file")
    add_root(parser)
    parser.add_argument("--port", type=port_number, default=6006, help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s (this machine only)")


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


def check_free(host: str, port: int) -> None:
    """Refuse a busy port before printing a URL that would lead to someone else's server."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, port))
    except OSError as exc:
        raise LabspecError(f"cannot serve on {host}:{port} ({exc.strerror}); pass another --port") from None


def logdir_spec(runs: list[RunRecord]) -> str:
    """TensorBoard's --logdir_spec: name:dir pairs (names without ':' or ',')."""
    parts = []
    for r in runs:
        name = r.name.replace(":", "_").replace(",", "_")
        parts.append(f"{name}:{Path(r.run_dir, 'tb')}")
    timeline = Path(runs[0].run_dir).parent / "timeline" if runs else None
    if timeline is not None and timeline.is_dir():  # iterative routes' figures on one axis (runtime.core.tb)
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
    check_free(args.host, args.port)
    cmd = [exe, "--logdir_spec", logdir_spec(runs), "--host", args.host, "--port", str(args.port)]
    print(f"TensorBoard for {experiment or args.target}: http://{args.host}:{args.port}/", flush=True)
    sys.stderr.flush()
    os.execv(exe, cmd)  # become TensorBoard: Ctrl-C or a signal stops it, no orphan left behind
