"""Sweeps: every swept path names a field, zip groups line up, nothing is swept twice."""

from __future__ import annotations

from collections.abc import Iterator

from specs import paths
from specs.base import ExperimentBase
from specs.rules import Finding, rule

NOT_SWEPT = ("name", "kind", "extends", "sweep", "stages")


@rule
def sweep_paths_exist(exp: ExperimentBase) -> Iterator[Finding]:
    sw = exp.sweep
    seen: dict[str, str] = {}
    groups = [(f"sweep.grid.{p}", p, v) for p, v in sw.grid.items()]
    for i, group in enumerate(sw.zip):
        groups += [(f"sweep.zip.{i}.{p}", p, v) for p, v in group.items()]
    for where, dotted, values in groups:
        if dotted in seen:
            yield where, f"{dotted!r} is already swept at {seen[dotted]}"
            continue
        seen[dotted] = where
        path = paths.split(dotted)
        if path[0] in NOT_SWEPT:
            yield where, f"{path[0]!r} cannot be swept"
            continue
        if dotted == "seed" and sw.seeds:
            yield where, "seed is swept by sweep.seeds already"
            continue
        problem = paths.resolve(type(exp), path)
        if problem:
            yield where, problem
        if not values:
            yield where, "an empty list of values gives no runs"
    for i, group in enumerate(sw.zip):
        lengths = {p: len(v) for p, v in group.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{p}: {n}" for p, n in lengths.items())
            yield f"sweep.zip.{i}", f"zip lists must have equal lengths ({shown})"
    if len(set(sw.seeds)) != len(sw.seeds):
        yield "sweep.seeds", "a seed is listed twice"


@rule
def sweep_size_bounded(exp: ExperimentBase) -> Iterator[Finding]:
    sw = exp.sweep
    n = sw.size()
    if n > sw.max_points:
        factors = [f"{len(v)} {p}" for p, v in sw.grid.items()]
        factors += [f"{min((len(v) for v in g.values()), default=0)} zipped" for g in sw.zip]
        factors += [f"{len(sw.seeds)} seeds"] if sw.seeds else []
        yield ("sweep", f"the sweep has {n:,} grid points ({' x '.join(factors)}), more than sweep.max_points "
                        f"({sw.max_points:,}); shrink the grid, or raise sweep.max_points if you mean it")
