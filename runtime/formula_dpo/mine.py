"""Task `mine_pairs`: preference pairs from a model's own formula-recognition mistakes.

Reads the training-split predictions of the `formula` evaluator (greedy prediction plus
any sampled candidates, each scored and classed) and writes DPO pairs: chosen = the gold
LaTeX, rejected = a wrong candidate. Per image, up to `pairs_per_image` distinct mistakes
(after LaTeX normalisation), unparseable ones first when `unparseable_first` (the failure
this route is about), then the valid-but-wrong ones; `rejected` keeps only one of the two kinds (an ablation:
which mistakes does DPO learn from?); empty outputs and images with an
empty gold formula are skipped (DPO needs text on both sides).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.core.io import read_jsonl, write_jsonl
from runtime.formula_dpo.latex import normalize
from specs.tasks import RunConfig
from specs.tasks.formula_dpo import MinePairsTask


def candidates(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The greedy prediction and the sampled ones, each with its text and scores."""
    first = {"text": row["prediction"], "source": "greedy", **{k: row.get(k) for k in ("error_class", "valid")}}
    return [first, *({"source": "sample", **s} for s in row.get("samples", []))]


KEEP = {"any": ("invalid", "valid_wrong"), "unparseable": ("invalid",), "valid_wrong": ("valid_wrong",)}


def mistakes(row: dict[str, Any], per_image: int, unparseable_first: bool,
             rejected: str = "any") -> list[dict[str, Any]]:
    wrong = [c for c in candidates(row) if c["error_class"] in KEEP[rejected] and str(c["text"]).strip()]
    if unparseable_first:
        wrong.sort(key=lambda c: c["error_class"] != "invalid")  # stable: greedy before samples within a class
    chosen, seen = [], {normalize(str(row["gold"]))}
    for c in wrong:
        key = normalize(str(c["text"]))
        if key not in seen:
            seen.add(key)
            chosen.append(c)
    return chosen[:per_image]


def run(run: RunConfig, tc: MinePairsTask) -> int:
    path = str(data.resolve(tc.predictions, run.base_dir))
    try:
        rows = read_jsonl(Path(path))
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"predictions: cannot read {path}: {exc}") from None
    pairs: list[dict[str, Any]] = []
    usable = [row for row in rows if str(row["gold"]).strip()]  # an empty gold: nothing to prefer
    for row in usable:
        for c in mistakes(row, tc.mining.pairs_per_image, tc.mining.unparseable_first,
                          tc.mining.rejected):
            pairs.append({"image": row["image"], "prompt": row.get("prompt") or tc.prompt, "chosen": row["gold"],
                          "rejected": c["text"], "rejected_class": c["error_class"], "source": c["source"]})
    write_jsonl(Path(run.outputs["pairs"]), pairs)
    classes = Counter(p["rejected_class"] for p in pairs)
    sources = Counter(p["source"] for p in pairs)
    summary: dict[str, Any] = {"pairs": len(pairs), "images": len(rows),
                               "images_with_pairs": len({p["image"] for p in pairs}),
                               "rejected_invalid": classes["invalid"], "rejected_valid_wrong": classes["valid_wrong"],
                               "from_samples": sources["sample"], "skipped_empty_gold": len(rows) - len(usable)}
    results.finish(run, summary, primary="pairs", tb_prefix="mine/")
    if not pairs:
        kind = "" if tc.mining.rejected == "any" else f" of the kind formula.mining.rejected={tc.mining.rejected!r}"
        raise TaskInputError(f"mine_pairs: the model made no usable mistake{kind} on the {len(rows)} training images "
                             "(nothing to prefer the gold LaTeX over); raise formula.mining.extra_samples or "
                             "formula.mining.temperature to sample more candidates")
    print(f"mine_pairs: {len(pairs)} pairs from {summary['images_with_pairs']}/{len(rows)} images "
          f"({classes['invalid']} unparseable, {classes['valid_wrong']} valid but wrong)", flush=True)
    return 0
