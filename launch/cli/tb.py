"""`labspec tb EXPERIMENT`: TensorBoard over the experiment's runs, each under its name."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from launch.cli_support import add_root, int_between, open_target
from launch.ledger import RunRecord
from specs.errors import LabspecError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="EXPERIMENT", help="experiment name or spec file")
    add_root(parser)
    parser.add_argument("--port", type=int_between(1, 65535, "a port number"), default=6006,
                        help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s (this machine only)")


def check_free(host: str, port: int) -> None:
    """Refuse a busy port before printing a URL that would lead to someone else's server."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, port))
    except OSError as exc:
        raise LabspecError(f"cannot serve on {host}:{port} ({exc.strerror}); pass another --port") from None


def link_names(runs: list[RunRecord]) -> dict[str, str]:
    """A TensorBoard run name per run: its name, with its id when two runs share a name
    (after an override relaunch), never a path separator."""
    names = [r.name for r in runs]
    return {r.id: (r.name if names.count(r.name) == 1 else f"{r.name}-{r.id}").replace("/", "_") for r in runs}


def farm(runs: list[RunRecord], where: Path) -> Path:
    """A folder of links, one per run to its tb/ (and one to the experiment's timeline),
    which TensorBoard reads as its logdir: any name and any path (commas, colons) work,
    unlike --logdir_spec, and stale links of an earlier call are replaced."""
    if where.is_dir():
        for old in where.iterdir():
            if old.is_symlink():
                old.unlink()
    where.mkdir(parents=True, exist_ok=True)
    for run_id, name in link_names(runs).items():
        run = next(r for r in runs if r.id == run_id)
        (where / name).symlink_to(Path(run.run_dir, "tb"), target_is_directory=True)
    timelines = {Path(r.run_dir).parent / "timeline" for r in runs}
    for timeline in timelines:  # iterative routes' figures on one axis (runtime.core.tb)
        name = "timeline" if len(timelines) == 1 else f"timeline-{timeline.parent.name}"
        (where / name).symlink_to(timeline, target_is_directory=True)
    return where


def run(args: argparse.Namespace) -> int:
    ledger, experiment = open_target(args.target, args.root)
    with ledger:
        runs = ledger.runs(experiment)
        root = ledger.dir
    if not runs:
        raise LabspecError(f"no runs recorded for {args.target}")
    exe = shutil.which("tensorboard") or str(Path(sys.executable).with_name("tensorboard"))
    if not Path(exe).exists():
        raise LabspecError("tensorboard is not installed here (pip install tensorboard)")
    check_free(args.host, args.port)
    logdir = farm(runs, root / "tb" / (experiment or runs[0].experiment))
    cmd = [exe, "--logdir", str(logdir), "--host", args.host, "--port", str(args.port)]
    print(f"TensorBoard for {experiment or args.target}: http://{args.host}:{args.port}/", flush=True)
    sys.stderr.flush()
    os.execv(exe, cmd)  # become TensorBoard: Ctrl-C or a signal stops it, no orphan left behind
