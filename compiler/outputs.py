"""Where each runtime task writes its outputs, relative to its run dir.

This is the contract between the compiler (which names an upstream output in a later
stage's config before anything runs) and the runtime (which writes there). The paths
are written into each run.json under `outputs`, so the runtime reads them from there.
"""

from __future__ import annotations

MODEL = "checkpoints/final"
METRICS = "outputs/metrics.json"

TASK_OUTPUTS: dict[str, dict[str, str]] = {
    "sft": {"model": MODEL},
    "dpo": {"model": MODEL},
    "generate": {"generations": "outputs/generations.jsonl"},
    "evaluate": {"predictions": "outputs/predictions.jsonl"},
    "spin_pairs": {"pairs": "outputs/pairs.jsonl", "new_pairs": "outputs/new_pairs.jsonl"},
    "formula_data": {"train": "outputs/train.jsonl", "test": "outputs/test.jsonl", "images": "outputs/images"},
    "mine_pairs": {"pairs": "outputs/pairs.jsonl"},
    "distill": {"model": MODEL},
    "encoder_eval": {},
    "mllm": {"model": MODEL},
    "benchmark": {"samples": "outputs/samples.jsonl"},
    "ladder_aggregate": {"table": "outputs/ladder.csv"},
    "filter_chains": {"data": "outputs/chains.jsonl"},
    "plan_solve": {"predictions": "outputs/predictions.jsonl", "plans": "outputs/accepted_plans.jsonl"},
    "smoke": {"checkpoint": "checkpoints/smoke.json"},
}

COMMON_OUTPUTS = {"metrics": METRICS}


def outputs_of(task: str) -> dict[str, str]:
    return {**COMMON_OUTPUTS, **TASK_OUTPUTS[task]}
