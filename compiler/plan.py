"""The compiler's output: a Plan of concrete runs and the DAG between them.

Plain frozen dataclasses: the launcher reads them, `--format json` prints them, and
nothing here knows about SLURM or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Run:
    id: str
    name: str
    stage: str  # the node name within its grid point, e.g. "train_t1"
    stage_type: str
    task: str
    depends_on: tuple[str, ...]  # run ids
    axes: dict[str, Any]  # swept values of the grid point(s) this run belongs to
    run_dir: str
    resources: dict[str, Any]
    launcher: str
    config: dict[str, Any]  # run.json
    deepspeed: dict[str, Any] | None
    command: list[str]
    env: dict[str, str]
    script: str
    shards: int = 1
    coordinates: dict[str, Any] = field(default_factory=dict)  # specs.tasks.Coordinates, for reports and the ledger

    def summary(self) -> dict[str, Any]:
        """The dry-run JSON view of this run."""
        return {
            "id": self.id,
            "name": self.name,
            "stage": self.stage,
            "stage_type": self.stage_type,
            "task": self.task,
            "depends_on": list(self.depends_on),
            "axes": self.axes,
            "run_dir": self.run_dir,
            "resources": self.resources,
            "launcher": self.launcher,
            "shards": self.shards,
            "coordinates": self.coordinates,
            "command": self.command,
            "env": self.env,
            "script": self.script,
            "deepspeed": self.deepspeed,
            "config": self.config,
        }


@dataclass(frozen=True)
class Plan:
    experiment: str
    kind: str
    output_root: str
    runs: tuple[Run, ...]
    warnings: tuple[str, ...] = field(default=())
    rehearsal: bool = False  # `--rehearse`: random shrunk models and a few rows, not a real run

    def run(self, run_id: str) -> Run:
        for r in self.runs:
            if r.id == run_id:
                return r
        raise KeyError(run_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "kind": self.kind,
            "output_root": self.output_root,
            "warnings": list(self.warnings),
            "rehearsal": self.rehearsal,
            "runs": [r.summary() for r in self.runs],
        }
