"""Expand a validated sweep into grid points.

The grid's cartesian product (in the order written), times each zip group (lists
advanced together; several groups multiply), times the seeds. A point is the mapping
of dotted paths to values; no sweep gives one empty point.
"""

from __future__ import annotations

import itertools
from typing import Any

from specs.sections import SweepSpec


def points(sweep: SweepSpec) -> list[dict[str, Any]]:
    factors: list[list[dict[str, Any]]] = []
    for path, values in sweep.grid.items():
        factors.append([{path: v} for v in values])
    for group in sweep.zip:
        length = min((len(v) for v in group.values()), default=0)
        factors.append([{p: vals[i] for p, vals in group.items()} for i in range(length)])
    if sweep.seeds:
        factors.append([{"seed": s} for s in sweep.seeds])
    out: list[dict[str, Any]] = []
    for combo in itertools.product(*factors):
        point: dict[str, Any] = {}
        for part in combo:
            point.update(part)
        out.append(point)
    return out


def varying_paths(sweep: SweepSpec) -> list[str]:
    """Swept paths that take more than one value (the ones worth naming runs by)."""
    out = [p for p, values in sweep.grid.items() if len(values) > 1]
    for group in sweep.zip:
        out.extend(p for p, values in group.items() if len(values) > 1)
    return out + (["seed"] if len(sweep.seeds) > 1 else [])


def labels(paths: list[str]) -> dict[str, str]:
    """Short axis labels for run names: the last component, unless that is ambiguous."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: (lab if last.count(lab) == 1 else p) for p, lab in zip(paths, last, strict=True)}
