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

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.core.io import read_jsonl, write_jsonl
from specs.tasks import RunConfig
from specs.tasks.spin import SpinPairsTask


def run(run: RunConfig, tc: SpinPairsTask) -> int:
    answer_field = tc.answer_field
    gen_path = Path(str(data.resolve(tc.generations, run.base_dir)))
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
    for path in tc.previous:
        previous += read_jsonl(Path(path))
    rows = new + previous
    if tc.downsample < 1.0:
        rows = random.Random(tc.sample_seed).sample(rows, max(1, int(len(rows) * tc.downsample)))
    if not rows:  # DPO would fail on an empty file, a stage later and without the reason
        raise TaskInputError(f"{gen_path}: no pair to train on: of its prompts, {empty} got only empty "
                             f"generations and {skipped} only the gold answer itself; check the generate "
                             "stage's log and its generation settings (max_new_tokens, temperature)")
    write_jsonl(Path(run.outputs["new_pairs"]), new)
    write_jsonl(Path(run.outputs["pairs"]), rows)
    summary = {"pairs": len(rows), "new_pairs": len(new), "previous_pairs": len(previous), "identical_to_gold": skipped,
               "empty_answers": empty}
    results.finish(run, summary, primary="pairs", tb_prefix="pairs/")
    return 0
