"""Task `mine_pairs`: preference pairs from a model's own formula-recognition mistakes.

Reads the training-split predictions of the `formula` evaluator (greedy prediction plus
any sampled candidates, each scored and classed) and writes DPO pairs: chosen = the gold
LaTeX, rejected = a wrong candidate. Per image, up to `pairs_per_image` distinct mistakes
(after LaTeX normalisation), unparseable ones first when `unparseable_first` (the failure
this route is about), then the valid-but-wrong ones; empty outputs and images with an
empty gold formula are skipped (DPO needs text on both sides).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from runtime import data
from runtime.errors import TaskInputError
from runtime.formulas.latex import normalize
from runtime.io import atomic_write_json
from runtime.tb import log_final


def candidates(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The greedy prediction and the sampled ones, each with its text and scores."""
    first = {"text": row["prediction"], "source": "greedy", **{k: row.get(k) for k in ("error_class", "valid")}}
    return [first, *({"source": "sample", **s} for s in row.get("samples", []))]


def mistakes(row: dict[str, Any], per_image: int, unparseable_first: bool) -> list[dict[str, Any]]:
    wrong = [c for c in candidates(row) if c["error_class"] != "correct" and str(c["text"]).strip()]
    if unparseable_first:
        wrong.sort(key=lambda c: c["error_class"] != "invalid")  # stable: greedy before samples within a class
    chosen, seen = [], {normalize(str(row["gold"]))}
    for c in wrong:
        key = normalize(str(c["text"]))
        if key not in seen:
            seen.add(key)
            chosen.append(c)
    return chosen[:per_image]


def run(config: dict[str, Any]) -> int:
    tc = config["task_config"]
    path = str(data.resolve(tc["predictions"], config["base_dir"]))
    try:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"predictions: cannot read {path}: {exc}") from None
    mining = tc["mining"]
    pairs: list[dict[str, Any]] = []
    usable = [row for row in rows if str(row["gold"]).strip()]  # an empty gold: nothing to prefer
    for row in usable:
        for c in mistakes(row, int(mining["pairs_per_image"]), bool(mining["unparseable_first"])):
            pairs.append({"image": row["image"], "prompt": row.get("prompt") or tc["prompt"], "chosen": row["gold"],
                          "rejected": c["text"], "rejected_class": c["error_class"], "source": c["source"]})
    out = Path(config["outputs"]["pairs"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    classes = Counter(p["rejected_class"] for p in pairs)
    sources = Counter(p["source"] for p in pairs)
    summary: dict[str, Any] = {"primary_metric": "pairs", "pairs": len(pairs), "images": len(rows),
               "images_with_pairs": len({p["image"] for p in pairs}),
               "rejected_invalid": classes["invalid"], "rejected_valid_wrong": classes["valid_wrong"],
               "from_samples": sources["sample"], "skipped_empty_gold": len(rows) - len(usable)}
    atomic_write_json(Path(config["outputs"]["metrics"]), summary)
    log_final(config, {f"mine/{k}": v for k, v in summary.items() if k != "primary_metric"})
    if not pairs:
        raise TaskInputError(f"mine_pairs: the model made no usable mistake on the {len(rows)} training images "
                             "(nothing to prefer the gold LaTeX over); raise formula.mining.extra_samples or "
                             "formula.mining.temperature to sample more candidates")
    print(f"mine_pairs: {len(pairs)} pairs from {summary['images_with_pairs']}/{len(rows)} images "
          f"({classes['invalid']} unparseable, {classes['valid_wrong']} valid but wrong)", flush=True)
    return 0
