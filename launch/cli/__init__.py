"""`labspec` command line: one module per subcommand, each with `register` and `run`.

User errors (`LabspecError`) are printed as one clear message, without a traceback,
with the error's exit code. Subcommand modules are imported lazily so `--help` stays
instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from specs.version import VERSION

SUBCOMMANDS = {
    "validate": "check spec files and report every problem with its file and line",
    "compile": "dry run: show the runs a spec compiles to (table, scripts or json)",
    "schema": "print the JSON Schema of the spec language",
    "launch": "submit a spec's runs to SLURM (or run them here), recorded in the ledger",
    "status": "the state of every run, refreshed from SLURM",
    "logs": "a run's output, optionally followed",
    "diff": "why two runs differ: config, code, environment and upstream runs",
    "code": "the code snapshots the runs run, and removing unused ones (--gc)",
    "cancel": "cancel an experiment's or a run's jobs, and what depends on them",
    "tb": "start TensorBoard over an experiment's runs",
    "hooks": "install a git post-commit hook that launches committed specs",
    "report": "a table and plots of an experiment's final metrics against its swept values",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labspec",
        description="Typed experiment specs -> concrete DeepSpeed runs on SLURM.",
    )
    parser.add_argument("--version", action="version", version=f"labspec {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"launch.cli.{name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.register(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from specs.errors import LabspecError

    module = importlib.import_module(f"launch.cli.{args.command}")
    try:
        code: int = module.run(args)
        return code
    except LabspecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP during a local run (launch.local)
        print(f"interrupted{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 130))
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the machine, not labspec: a full disk, a permission, a vanished file
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; nothing more was done", file=sys.stderr)
        return 1


def entrypoint() -> None:
    sys.exit(main())
