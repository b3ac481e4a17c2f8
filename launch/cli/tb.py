"""`labspec tb EXPERIMENT`: TensorBoard over the experiment's runs, each under its name,
with its timeline and its HParams rows (`launch.tb_farm`); it follows the experiment as
later launches add runs."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from launch.cli_support import add_root, int_between, open_target
from launch.tb_farm import farm, farm_dir
from specs.errors import LabspecError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="EXPERIMENT", help="experiment name or spec file")
    add_root(parser)
    parser.add_argument("--port", type=int_between(1, 65535, "a port number"), default=6006,
                        help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s (this machine only)")


def check_free(host: str, port: int) -> None:
    """Refuse a busy port before printing a URL that would lead to someone else's server:
    on every address the host name stands for ("localhost" is 127.0.0.1 and ::1, and a
    browser may try either)."""
    try:
        addresses = {(family, addr[0]) for family, *_, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except socket.gaierror as exc:
        raise LabspecError(f"--host {host}: {exc.strerror}; pass a host name or address of this machine") from None
    for family, address in sorted(addresses):
        try:
            with socket.socket(family) as s:
                s.bind((address, port))
        except OSError as exc:
            raise LabspecError(f"cannot serve on {address}:{port} ({exc.strerror}); pass another --port") from None


def run(args: argparse.Namespace) -> int:
    ledger, experiment = open_target(args.target, args.root)
    with ledger:
        runs = ledger.runs(experiment)
        root = ledger.root
    if not runs:
        raise LabspecError(f"no runs recorded for {args.target}")
    exe = shutil.which("tensorboard") or str(Path(sys.executable).with_name("tensorboard"))
    if not Path(exe).exists():
        raise LabspecError("tensorboard is not installed here (pip install tensorboard)")
    check_free(args.host, args.port)
    logdir = farm(runs, farm_dir(root, experiment or runs[0].experiment))
    cmd = [exe, "--logdir", str(logdir), "--host", args.host, "--port", str(args.port)]
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/"
    print(f"TensorBoard for {experiment or args.target}: {url}\n"
          f"  the timeline, unsmoothed: {url}?smoothing=0&runFilter=timeline#timeseries\n"
          f"  one row per grid point:   {url}#hparams", flush=True)
    sys.stderr.flush()
    os.execv(exe, cmd)  # become TensorBoard: Ctrl-C or a signal stops it, no orphan left behind
