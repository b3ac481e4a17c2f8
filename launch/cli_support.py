"""What the CLI's verbs (`launch/cli/<verb>.py`) share: overrides and loading a spec, which
ledger and experiment a watching command means, asking before submitting, and showing
logs with their progress bars as a terminal would."""

from __future__ import annotations

import argparse
import codecs
import os
import sys
from collections.abc import Callable
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING

from launch.ledger import Ledger, LedgerError, ledger_root
from specs.errors import LabspecError

if TYPE_CHECKING:
    from compiler.plan import Plan
    from compiler.rehearsal import Rehearsal
    from specs.loader import LoadedSpec


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--override", dest="overrides", action="append", default=[], metavar="K=V",
        help="set a field, e.g. -o training.lr=2e-5 or -o sweep.grid.training.lr=[1e-5,2e-5] "
        "(values are YAML; repeatable)",
    )


def add_rehearsal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rehearse", action="store_true",
                        help="the same plan with random shrunk models of the same classes and a few rows of data, "
                        "as <name>.rehearsal: the step before every real launch")
    parser.add_argument("--partition", metavar="P", help="with --rehearse on SLURM: run there (a debug partition)")
    parser.add_argument("--shapes", choices=("small", "real"), default="small",
                        help="with --rehearse: shrink width and depth (default) or keep the real shapes (on GPUs)")
    parser.add_argument("--gpus", type=int_between(0, 64, "a number of GPUs"), default=0, metavar="N",
                        help="with --rehearse: GPUs a node may use (default 0: CPU processes)")
    parser.add_argument("--steps", type=int_between(1, 100_000, "a number of steps"), default=None, metavar="N",
                        help="with --rehearse: optimizer steps per training stage (default 2)")


def rehearsal_of(args: argparse.Namespace, executor: str) -> Rehearsal | None:
    """The rehearsal the command line asks for; None for the real plan."""
    from compiler.rehearsal import Rehearsal

    if not args.rehearse:
        if args.partition is not None or args.shapes != "small" or args.gpus or args.steps is not None:
            raise LabspecError("--partition, --shapes, --gpus and --steps go with --rehearse; add it, or drop them "
                               "(a real launch takes them from the spec: resources, training.max_steps)")
        return None
    return Rehearsal(executor="slurm" if executor == "slurm" else "local", partition=args.partition,
                     shapes=args.shapes, gpus=args.gpus, **({"steps": args.steps} if args.steps else {}))


def load_and_compile(spec: str, overrides: list[str], output_root: str | None = None,
                     rehearsal: Rehearsal | None = None, code_id: str | None = None) -> tuple[LoadedSpec, Plan]:
    from compiler import compile
    from specs.loader import load_spec

    loaded = load_spec(spec, overrides)
    plan = compile(loaded, output_root=output_root, rehearsal=rehearsal, code_id=code_id)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return loaded, plan


def add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", metavar="DIR",
                        help="the output root holding the ledger (default: $LABSPEC_ROOT, else ./runs)")


def open_target(target: str | None, root: str | None) -> tuple[Ledger, str | None]:
    """The ledger and the experiment a watching command means: an experiment name (its
    ledger: --root, else $LABSPEC_ROOT, else ./runs) or a spec file (its own output_root
    and name); None for the experiment: all of them, or a run the caller looks up."""
    if target and Path(target).suffix in (".yaml", ".yml", ".py") and Path(target).is_file():
        from specs.loader import load_spec

        exp = load_spec(target).experiment
        return Ledger(os.path.abspath(exp.output_root), create=False), exp.name
    ledger = Ledger(ledger_root(root), create=False)
    if target is None:
        return ledger, None
    names = ledger.experiments()
    if target in names:
        return ledger, target
    if any(target in (r.id, r.name) or r.id.startswith(target) for r in ledger.runs()):
        return ledger, None  # a run: the caller looks it up
    close = get_close_matches(target, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (experiments: {', '.join(names) or 'none'})"
    ledger.close()
    raise LedgerError(f"no experiment or run {target!r} in the ledger at {ledger.path}{hint}")


def confirm(question: str) -> bool:
    """A yes/no question on the terminal; no terminal means no (use --yes)."""
    if not sys.stdin or not sys.stdin.isatty():
        raise LabspecError(f"{question} There is no terminal to ask: pass --yes to submit without asking")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def int_between(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, else a usage error saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} ({low}-{high})") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not {what} ({low}-{high})")
        return value

    return parse


def last_states(text: str) -> str:
    """`text` with each line shown as its last state: progress bars (tqdm) redraw a line by
    writing '\r' and the new text, so a log holds every state of the bar on one line; a
    terminal shows only the text after the last '\r' (a '\r' that ends the line, as in
    '\r\n', moves the cursor and erases nothing)."""
    return "\n".join(line.rstrip("\r").rpartition("\r")[2] for line in text.split("\n"))


class LogReader:
    """A growing log, read in chunks, as text with each line at its last state.

    A chunk may end inside a line, inside a '\r\n' or inside a UTF-8 character: complete
    lines are given out as they come, the line being written is kept (only its latest
    state, so a bar that never ends its line does not grow the buffer) until it ends or
    the log is done."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, chunk: bytes) -> str:
        """The lines `chunk` completes, rendered, each with its newline."""
        text = self._partial + self._decoder.decode(chunk)
        complete, newline, partial = text.rpartition("\n")
        body = partial.rstrip("\r")
        self._partial = body.rpartition("\r")[2] + partial[len(body):]  # the state, and a '\r' of a '\r\n'
        return last_states(complete) + newline if newline else ""

    @property
    def pending(self) -> str:
        """The current state of the line being written (empty when none)."""
        return last_states(self._partial)

    def finish(self) -> str:
        """What is left once the log is complete: the last line's state, with a newline."""
        rest = last_states(self._partial + self._decoder.decode(b"", final=True))
        self._partial = ""
        return rest + "\n" if rest else ""
