"""Which ledger and experiment a watching command means.

A target is an experiment name (its ledger: --root, else $LABSPEC_ROOT, else ./runs)
or a spec file (its own output_root and name).
"""

from __future__ import annotations

import argparse
from difflib import get_close_matches
from pathlib import Path

from launch.ledger import Ledger, LedgerError, ledger_root


def add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", metavar="DIR",
                        help="the output root holding the ledger (default: $LABSPEC_ROOT, else ./runs)")


def open_target(target: str | None, root: str | None) -> tuple[Ledger, str | None]:
    """The ledger and the experiment name (None: all experiments in that ledger)."""
    if target and Path(target).suffix in (".yaml", ".yml", ".py") and Path(target).is_file():
        import os

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
