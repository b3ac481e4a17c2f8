"""Task `ladder_aggregate`: every cell's scores into the ladder (ability x size per
intervention) with standard errors, retention and gains (runtime.size_ladder.arithmetic);
written as outputs/ladder.csv and ladder.json for `labspec report` to draw."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.core.io import atomic_write_json
from runtime.size_ladder.arithmetic import as_dicts, ladder
from specs.tasks import RunConfig
from specs.tasks.size_ladder import LadderAggregateTask


def run(run: RunConfig, tc: LadderAggregateTask) -> int:
    cells = []
    for cell in tc.cells:
        path = Path(str(data.resolve(cell.metrics, run.base_dir)))
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TaskInputError(f"cell {cell.model} x {cell.intervention}: cannot read {path} ({exc})") from None
        cells.append({**cell.model_dump(), "metrics": metrics})
    rows = as_dicts(ladder(cells))
    out = Path(run.outputs["table"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["intervention"])
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_json(Path(run.outputs["ladder"]), {"rows": rows, "abilities": tc.abilities})
    results.finish(run, {"cells": len(cells), "rows": len(rows)}, primary="cells")
    return 0
