"""Task `ladder_aggregate`: every cell's scores into the ladder (ability x size per
intervention) with standard errors, retention and gains (runtime.size_ladder.arithmetic);
written as outputs/ladder.csv and ladder.json for `labspec report` to draw, with, when the
spec asks for them, each cell's contamination figures (original vs twin, the drop, Min-K%)
and fluency figures (with the judge's perplexity of its answers)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

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
    if tc.judge is not None:
        judged = {(c["model"], c["intervention"]): c["perplexity"]
                  for c in json.loads(Path(str(data.resolve(tc.judge, run.base_dir))).read_text())["cells"]}
        for found in cells:
            found["metrics"]["fluency/judge_perplexity"] = judged.get((found["model"], found["intervention"]))
    rows = as_dicts(ladder(cells))
    out = Path(run.outputs["table"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["intervention"])
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_json(Path(run.outputs["ladder"]), {"rows": rows, "abilities": tc.abilities,
                                                    "contamination": probe_rows(cells, "contamination/", "min_k/"),
                                                    "fluency": probe_rows(cells, "fluency/")})
    results.finish(run, {"cells": len(cells), "rows": len(rows)}, primary="cells")
    return 0


def probe_rows(cells: list[dict[str, Any]], *prefixes: str) -> list[dict[str, Any]]:
    """Per cell that has them, its figures under `prefixes` (the prefix dropped from the name
    when there is one prefix), with the cell's model, size and intervention."""
    rows = []
    for cell in cells:
        found = {(k.split("/", 1)[1] if len(prefixes) == 1 else k.replace("/", "_")): v
                 for k, v in cell["metrics"].items() if k.startswith(prefixes)}
        if found:
            rows.append({"model": cell["model"], "size": cell["size"], "intervention": cell["intervention"], **found})
    return rows
