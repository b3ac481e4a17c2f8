"""Task `ladder_aggregate`: every cell's scores into the ladder (ability x size per
intervention) with standard errors, retention and gains (runtime.ladder.arithmetic);
written as outputs/ladder.csv and ladder.json for `labspec report` to draw."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from runtime import data
from runtime.errors import TaskInputError
from runtime.io import atomic_write_json
from runtime.ladder.arithmetic import as_dicts, ladder


def run(config: dict[str, Any]) -> int:
    tc = config["task_config"]
    cells = []
    for cell in tc["cells"]:
        path = Path(str(data.resolve(cell["metrics"], config["base_dir"])))
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TaskInputError(f"cell {cell['model']} x {cell['intervention']}: cannot read {path} ({exc})") from None
        cells.append({**cell, "metrics": metrics})
    rows = as_dicts(ladder(cells))
    out = Path(config["outputs"]["table"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["intervention"])
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_json(out.with_name("ladder.json"), {"rows": rows, "abilities": tc["abilities"]})
    atomic_write_json(Path(config["outputs"]["metrics"]), {
        "primary_metric": "cells", "cells": len(cells), "rows": len(rows)})
    return 0
