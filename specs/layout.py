"""Where labspec keeps its own files under an output root (beside the experiments' run
dirs): the ledger, the rehearsal assets, and the code snapshots launch scripts run; and the
folders several runs of an experiment write beside their run dirs (TensorBoard's timeline
and HParams rows), which the runtime writes and `labspec tb` links.
Standard library only: the compiler, the launcher and the watching commands all read it."""

from __future__ import annotations

import os

LABSPEC_DIR = ".labspec"
CODE_DIR = "code"
TIMELINE_DIR = "timeline"  # <experiment>/timeline: iterative routes' figures on one axis
HPARAMS_DIR = "hparams"  # <experiment>/hparams/<point>: one HParams row per grid point


def code_root(output_root: str) -> str:
    """Where an output root's code snapshots lie."""
    return os.path.join(output_root, LABSPEC_DIR, CODE_DIR)


def snapshot_dir(output_root: str, code_id: str) -> str:
    """Where the code snapshot `code_id` of an output root lies (launch.snapshot writes it)."""
    return os.path.join(code_root(output_root), code_id)
