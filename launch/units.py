"""Group a plan's runs into submission units: one SLURM job (an array when it holds
several tasks) per group of runs of one stage that ask for the same resources.

Dependencies between units are exact: a unit whose i-th task needs the i-th task of an
upstream array waits with `aftercorr` (task by task); otherwise a unit is split so
that all its tasks need the same upstream tasks, and it waits with `afterok` on
exactly those. Either way a failure stops only what depends on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from compiler.plan import Run


@dataclass
class Unit:
    """One submission: its tasks are (run, shard) pairs, in array order."""

    key: str
    runs: list[Run]
    tasks: list[tuple[Run, int]] = field(default_factory=list)
    # how each upstream run is waited for: aligned upstream units (aftercorr) ...
    corr_upstream: list[Unit] = field(default_factory=list)
    # ... or exact upstream run ids (afterok on their tasks)
    ok_upstream: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.tasks:
            self.tasks = [(r, s) for r in self.runs for s in range(r.shards)]

    @property
    def stage(self) -> str:
        return self.runs[0].stage

    @property
    def is_array(self) -> bool:
        return len(self.tasks) > 1


def group(runs: list[Run]) -> list[Unit]:
    """Units in dependency order for the runs to submit (upstream runs not in `runs`
    are handled by the caller: completed ones need no wait, pending ones are waited for)."""
    selected = {r.id for r in runs}
    unit_of: dict[str, Unit] = {}  # run id -> unit
    units: list[Unit] = []
    by_key: dict[str, list[Run]] = {}
    order: list[str] = []
    for r in runs:
        key = json.dumps([r.stage, r.launcher, r.shards, r.resources], sort_keys=True)
        if key not in by_key:
            by_key[key] = []
            order.append(key)
        by_key[key].append(r)
    for key in order:
        members = by_key[key]
        for unit in _split(key, members, unit_of, selected):
            units.append(unit)
            for r in unit.runs:
                unit_of[r.id] = unit
    return units


def _split(key: str, members: list[Run], unit_of: dict[str, Unit], selected: set[str]) -> list[Unit]:
    internal = [[d for d in r.depends_on if d in selected] for r in members]
    # aftercorr: every member has one upstream run per upstream unit, at its own index
    if all(r.shards == 1 for r in members) and all(internal):
        ups = [unit_of[d] for d in internal[0]]
        aligned = all(len(deps) == len(ups) for deps in internal) and all(
            len(u.tasks) == len(members) and not any(t[0].shards > 1 for t in u.tasks) for u in ups)
        if aligned:
            for i, deps in enumerate(internal):
                for u, d in zip(ups, deps, strict=True):
                    if unit_of[d] is not u or u.tasks[i][0].id != d:
                        aligned = False
        if aligned:
            external = [[d for d in r.depends_on if d not in selected] for r in members]
            if all(e == external[0] for e in external):
                return [Unit(key, members, corr_upstream=ups, ok_upstream=external[0])]
    # otherwise: one unit per distinct set of upstream runs
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in members:
        groups.setdefault(tuple(sorted(r.depends_on)), []).append(r)
    return [Unit(f"{key}|{i}", rs, ok_upstream=list(deps)) for i, (deps, rs) in enumerate(groups.items())]
