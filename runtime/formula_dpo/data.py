"""Task `formula_data`: the formula route's training and test splits as JSONL.

Rows are {"image": absolute PNG path, "latex": gold LaTeX} (plus "subset" for UniMER-Test),
from a real data set as it lies on disk (runtime.formula_dpo.readers) or generated offline
(runtime.formula_dpo.synthetic). Later stages (SFT, evaluation, mining, DPO) read only these
files, so every data set looks the same to them. `max_train` / `max_test` draw a seeded
subset for pilot runs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.core.io import write_jsonl
from specs.kinds.formula_dpo import FormulaDataset, SyntheticFormulas
from specs.tasks import RunConfig
from specs.tasks.formula_dpo import FormulaDataTask


def cap(rows: list[dict[str, str]], limit: int | None, seed: int) -> list[dict[str, str]]:
    if not limit or len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def splits(ds: FormulaDataset, base_dir: str, images: Path, seed: int) -> dict[str, list[dict[str, str]]]:
    if ds.format == "synthetic":
        from runtime.formula_dpo.synthetic import generate

        syn = ds.synthetic or SyntheticFormulas()
        return generate(images.parent, n_train=syn.n_train, n_test=syn.n_test, seed=syn.seed, dpi=syn.dpi,
                        font_size=syn.font_size, max_depth=syn.max_depth)
    from runtime.formula_dpo.readers import read_split

    root = Path(str(data.resolve(ds.root, base_dir)))
    if not root.is_dir():
        raise TaskInputError(f"formula.dataset.root: {root} is not a directory")
    return {"train": cap(read_split(ds.format, root, ds.train_split, [], images), ds.max_train, seed),
            "test": cap(read_split(ds.format, root, ds.test_split, list(ds.test_subsets), images), ds.max_test, seed)}


def run(run: RunConfig, tc: FormulaDataTask) -> int:
    images = Path(run.outputs["images"])
    images.mkdir(parents=True, exist_ok=True)
    rows = splits(tc.dataset, run.base_dir, images, run.seed)
    summary: dict[str, Any] = {}
    for split in ("train", "test"):
        if not rows[split]:
            raise TaskInputError(f"formula.dataset: the {split} split is empty")
        write_jsonl(Path(run.outputs[split]), rows[split])
        summary[f"{split}_images"] = len(rows[split])
    for subset in sorted({r["subset"] for r in rows["test"] if r.get("subset")}):
        summary[f"test_images/{subset}"] = sum(r.get("subset") == subset for r in rows["test"])
    results.finish(run, summary, primary="train_images", tb_prefix="data/")
    print(f"formula_data: {summary['train_images']} training and {summary['test_images']} test images", flush=True)
    return 0
