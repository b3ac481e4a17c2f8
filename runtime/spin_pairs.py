"""Task `spin_pairs`: SPIN's training pairs for one iteration.

chosen = the gold answer, rejected = the current model's own answer, for every prompt
it answered (a generation identical to the gold answer teaches nothing, an empty one
gives DPO no tokens to push down: both are left out and counted). The iteration's
training set is its new pairs plus the earlier iterations' new pairs the spec asks for,
optionally down-sampled ("less synthetic data").
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from runtime import data
from runtime.errors import TaskInputError
from runtime.io import atomic_write_json
from runtime.tb import log_final, log_timeline


def run(config: dict[str, Any]) -> int:
    tc = config["task_config"]
    base = config["base_dir"]
    fields = tc.get("fields", {})
    answer_field = fields.get("completion_field", "completion")
    gen_path = Path(str(data.resolve(tc["generations"], base)))
    if not gen_path.exists():
        raise TaskInputError(f"generations: {gen_path} does not exist (did the generate stage finish?)")
    new: list[dict[str, Any]] = []
    skipped, empty = 0, 0
    for line in gen_path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if answer_field not in row:
            raise TaskInputError(f"{gen_path}: rows have no {answer_field!r} (the gold answer); "
                                 "set data.completion_field")
        gold = str(row[answer_field])
        answers = [g for g in row["generations"] if g.strip()]
        if not answers:
            empty += 1
            continue
        rejected = next((g for g in answers if g.strip() != gold.strip()), None)
        if rejected is None:
            skipped += 1
            continue
        new.append({"prompt": row["prompt"], "chosen": gold, "rejected": rejected})
    previous: list[dict[str, Any]] = []
    for path in tc.get("previous", []):
        previous += [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    rows = new + previous
    rng = random.Random(int(tc.get("sample_seed", 0)))
    fraction = float(tc.get("downsample", 1.0))
    if fraction < 1.0:
        rows = rng.sample(rows, max(1, int(len(rows) * fraction)))
    outputs = config["outputs"]
    for key, items in (("new_pairs", new), ("pairs", rows)):
        out = Path(outputs[key])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    summary = {"pairs": len(rows), "new_pairs": len(new), "previous_pairs": len(previous), "identical_to_gold": skipped,
               "empty_answers": empty}
    atomic_write_json(Path(outputs["metrics"]), {"primary_metric": "pairs", **summary})
    log_final(config, {f"pairs/{k}": v for k, v in summary.items()})
    log_timeline(config, summary)
    return 0
