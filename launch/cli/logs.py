"""`labspec logs [EXPERIMENT] RUN [-f]`: a run's output (and errors), optionally followed,
with progress bars shown at their last state."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from launch.cli_support import LogReader, add_root, open_target
from launch.ledger import Ledger, LedgerError, RunRecord

CHUNK = 1 << 20  # bytes read at a time: a long log is shown without holding it all


def register(parser: argparse.ArgumentParser) -> None:
    parser.usage = "%(prog)s [-h] [EXPERIMENT] RUN [-f] [--err] [--node N] [--root DIR]"
    parser.add_argument("first", metavar="[EXPERIMENT] RUN",
                        help="run id (or a unique prefix, as `labspec status` shows it) or run name; "
                        "the experiment (name or spec file) first when the name is in several")
    parser.add_argument("run_name", nargs="?", help=argparse.SUPPRESS)
    add_root(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    parser.add_argument("--err", action="store_true", help="the error log instead of the output")
    parser.add_argument("--node", default="0", metavar="N", help="which node's log of a multi-node run (default 0)")


def run(args: argparse.Namespace) -> int:
    from launch import ledger as L
    from launch.refresh import refresh

    ledger, rec = resolve(args.first, args.run_name, args.root)
    with ledger:
        suffix = "err" if args.err else "out"
        logs = Logs(live=args.follow and sys.stdout.isatty())
        while True:
            # node<N>.out, or shard<S>.node<N>.out for each shard of a sharded run
            paths = sorted(Path(rec.run_dir, "logs").glob(f"*node{args.node}.{suffix}"))
            logs.show(paths)
            finished = rec.state not in L.ACTIVE  # done, failed, interrupted, or never started: nothing to follow
            if not args.follow or finished:
                logs.finish()
                if not paths:
                    gone = "" if Path(rec.run_dir).is_dir() else " (its run dir is gone)"
                    print(f"no log for {rec.name} under {rec.run_dir}/logs (state: {rec.state}){gone}",
                          file=sys.stderr)
                return 0
            time.sleep(1.0)
            refresh(ledger, rec.experiment)
            rec = ledger.get(rec.id) or rec


def resolve(first: str, second: str | None, root: str | None) -> tuple[Ledger, RunRecord]:
    """The ledger and the run that `RUN` or `EXPERIMENT RUN` name."""
    ledger, experiment = open_target(first, root)
    try:
        if second is None:
            if experiment is not None and not any(first in (r.id, r.name) for r in ledger.runs(experiment)):
                names = ", ".join(r.name for r in ledger.runs(experiment)[:8])
                raise LedgerError(f"{first} is an experiment: name one of its runs too, e.g. "
                                  f"labspec logs {shlex.quote(first)} RUN (its runs: {names or 'none'})")
            return ledger, ledger.find(first, experiment)
        if experiment is None:
            names = ", ".join(ledger.experiments()) or "none"
            raise LedgerError(f"no experiment {first!r} in the ledger at {ledger.path} (experiments: {names}); "
                              "give the experiment, then the run")
        return ledger, ledger.find(second, experiment)
    except BaseException:
        ledger.close()
        raise


class Logs:
    """Prints log files as they grow, each from where it was left. `live`: on a terminal,
    the line being written (a progress bar) is shown and redrawn in place."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.readers: dict[Path, LogReader] = {}
        self.offsets: dict[Path, int] = {}
        self.shown_pending = False  # a partial line is on the screen, to be redrawn

    def show(self, paths: list[Path]) -> None:
        for path in paths:
            reader = self.readers.setdefault(path, LogReader())
            text = self._read(path, reader)
            if text and len(paths) > 1:
                text = f"--- {path.name}\n{text}"
            self._write(text, reader.pending if self.live and len(paths) == 1 else "")
        sys.stdout.flush()

    def finish(self) -> None:
        """The last line of each log, which may not have ended."""
        for path, reader in self.readers.items():
            rest = reader.finish()
            self._write(f"--- {path.name}\n{rest}" if rest and len(self.readers) > 1 else rest, "")
        sys.stdout.flush()

    def _read(self, path: Path, reader: LogReader) -> str:
        parts = []
        with open(path, "rb") as fh:
            fh.seek(self.offsets.get(path, 0))
            while chunk := fh.read(CHUNK):
                self.offsets[path] = self.offsets.get(path, 0) + len(chunk)
                parts.append(reader.feed(chunk))
        return "".join(parts)

    def _write(self, text: str, pending: str) -> None:
        """`text` (complete lines), then `pending` drawn over the previous pending line."""
        if not text and not pending:
            return
        if self.shown_pending:
            sys.stdout.write("\r\x1b[K")
        sys.stdout.write(text)
        if pending:
            sys.stdout.write(pending)
        self.shown_pending = bool(pending)
