"""Group the runs to submit into submission units: one SLURM job (an array when it holds
several tasks) per group of runs of one stage that ask for the same resources.

Dependencies between units are exact: a unit whose i-th task needs the i-th task of an
upstream array waits with `aftercorr` (task by task); otherwise a unit is split so
that all its tasks need the same upstream runs, and it waits with `afterok` on exactly
those. A sharded run (a generation split over tasks) is a unit of its own: its array
is the run. Units come out in dependency order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from compiler.plan import Run


@dataclass
class Unit:
    """One submission: its tasks are (run, shard) pairs, in array order."""

    runs: list[Run]
    corr_upstream: list[Unit] = field(default_factory=list)  # waited for task by task
    ok_upstream: list[str] = field(default_factory=list)  # run ids waited for as a whole

    @property
    def tasks(self) -> list[tuple[Run, int]]:
        return [(r, s) for r in self.runs for s in range(r.shards)]

    @property
    def stage(self) -> str:
        return self.runs[0].stage

    @property
    def is_array(self) -> bool:
        return len(self.tasks) > 1

    @property
    def sharded(self) -> bool:
        return self.runs[0].shards > 1


def group(runs: list[Run]) -> list[Unit]:
    """The units for `runs`, upstream units before the units that wait for them."""
    selected = {r.id for r in runs}
    by_key: dict[str, list[Run]] = {}
    for r in runs:
        key = r.id if r.shards > 1 else json.dumps([r.stage, r.launcher, r.resources], sort_keys=True)
        by_key.setdefault(key, []).append(r)
    key_of = {r.id: k for k, members in by_key.items() for r in members}
    needs = {k: {key_of[d] for r in members for d in r.depends_on if d in selected} - {k}
             for k, members in by_key.items()}
    unit_of: dict[str, Unit] = {}
    units: list[Unit] = []
    for key in _topological(needs):
        for unit in _split(by_key[key], unit_of, selected):
            units.append(unit)
            unit_of.update({r.id: unit for r in unit.runs})
    return units


def _topological(needs: dict[str, set[str]]) -> list[str]:
    """Keys in dependency order, ties in first-seen order (stage DAGs have no cycles)."""
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(needs):
        ready = [k for k in needs if k not in done and needs[k] <= done]
        if not ready:
            raise RuntimeError(f"internal: submission units depend on each other: {sorted(needs)}")
        order.extend(ready)
        done.update(ready)
    return order


def _split(members: list[Run], unit_of: dict[str, Unit], selected: set[str]) -> list[Unit]:
    internal = [[d for d in r.depends_on if d in selected] for r in members]
    external = [[d for d in r.depends_on if d not in selected] for r in members]
    if members[0].shards == 1 and all(internal) and all(e == external[0] for e in external):
        ups = [unit_of[d] for d in internal[0]]
        aligned = all(
            len(deps) == len(ups) and all(
                unit_of[d] is u and not u.sharded and len(u.runs) == len(members) and u.runs[i].id == d
                for u, d in zip(ups, deps, strict=True))
            for i, deps in enumerate(internal))
        if aligned:
            return [Unit(members, corr_upstream=ups, ok_upstream=external[0])]
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in members:
        groups.setdefault(tuple(sorted(r.depends_on)), []).append(r)
    return [Unit(rs, ok_upstream=list(deps)) for deps, rs in groups.items()]
