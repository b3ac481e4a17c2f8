"""Task `formula_data`: the formula route's training and test splits as JSONL.

Rows are {"image": absolute PNG path, "latex": gold LaTeX} (plus "subset" for UniMER-Test),
from a real data set as it lies on disk (runtime.formulas.readers) or generated offline
(runtime.formulas.synthetic). Later stages (SFT, evaluation, mining, DPO) read only these
files, so every data set looks the same to them. `max_train` / `max_test` draw a seeded
subset for pilot runs.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from runtime import data
from runtime.errors import TaskInputError
from runtime.io import atomic_write_json
from runtime.tb import log_final


def cap(rows: list[dict[str, str]], limit: int | None, seed: int) -> list[dict[str, str]]:
    if not limit or len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def splits(ds: dict[str, Any], base_dir: str, images: Path, seed: int) -> dict[str, list[dict[str, str]]]:
    if ds["format"] == "synthetic":
        from runtime.formulas.synthetic import generate

        syn = ds.get("synthetic") or {}
        return generate(images.parent, n_train=syn.get("n_train", 2000), n_test=syn.get("n_test", 200),
                        seed=syn.get("seed", 0), dpi=syn.get("dpi", 100), font_size=syn.get("font_size", 14),
                        max_depth=syn.get("max_depth", 3))
    from runtime.formulas.readers import read_split

    root = Path(str(data.resolve(ds["root"], base_dir)))
    if not root.is_dir():
        raise TaskInputError(f"formula.dataset.root: {root} is not a directory")
    return {"train": cap(read_split(ds["format"], root, ds["train_split"], [], images), ds.get("max_train"), seed),
            "test": cap(read_split(ds["format"], root, ds["test_split"], list(ds.get("test_subsets") or []), images),
                        ds.get("max_test"), seed)}


def run(config: dict[str, Any]) -> int:
    outputs = config["outputs"]
    images = Path(outputs["images"])
    images.mkdir(parents=True, exist_ok=True)
    rows = splits(config["task_config"]["dataset"], config["base_dir"], images, int(config.get("seed", 0)))
    summary: dict[str, Any] = {"primary_metric": "train_images"}
    for split in ("train", "test"):
        if not rows[split]:
            raise TaskInputError(f"formula.dataset: the {split} split is empty")
        path = Path(outputs[split])
        path.write_text("".join(json.dumps(r) + "\n" for r in rows[split]), encoding="utf-8")
        summary[f"{split}_images"] = len(rows[split])
    for subset in sorted({r["subset"] for r in rows["test"] if r.get("subset")}):
        summary[f"test_images/{subset}"] = sum(r.get("subset") == subset for r in rows["test"])
    atomic_write_json(Path(outputs["metrics"]), summary)
    log_final(config, {f"data/{k}": v for k, v in summary.items() if k != "primary_metric"})
    print(f"formula_data: {summary['train_images']} training and {summary['test_images']} test images", flush=True)
    return 0
