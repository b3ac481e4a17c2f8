"""The `dpo` task: TRL's DPOTrainer on DeepSpeed with two CPU processes, its rewards and
margins in TensorBoard, and bad preference files stopped before training."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.launch_helpers import metrics, run_cli, status

pytestmark = pytest.mark.slow


def write_pairs(path: Path, assets: Path, n: int = 64, empty_row: int | None = None) -> Path:
    rng = random.Random(0)
    rows = [json.loads(line) for line in (assets / "tiny-chat" / "train.jsonl").read_text().splitlines()[:n]]
    with open(path, "w") as fh:
        for i, r in enumerate(rows):
            wrong = str(int(r["completion"]) + rng.choice([-2, -1, 1, 2]))
            chosen = "" if i == empty_row else r["completion"]
            fh.write(json.dumps({"question": r["prompt"], "good": chosen, "bad": wrong}) + "\n")
    return path


def dpo_spec(tmp_path: Path, assets: Path, pairs: Path, name: str, zero: int) -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(f"""\
name: {name}
kind: dpo
output_root: {tmp_path / "runs"}
model: {{name_or_path: {assets / "tiny-lm"}, dtype: fp32}}
data: {{train: {pairs}, prompt_field: question, chosen_field: good, rejected_field: bad}}
training: {{lr: 1.0e-3, max_steps: 10, global_batch_size: 8, micro_batch_size: 4, precision: fp32,
           max_length: 64, logging_steps: 5, save_steps: 10}}
deepspeed: {{zero_stage: {zero}}}
resources: {{gpus_per_node: 0, procs_per_node: 2, cpus_per_task: 2, time: 30}}
dpo: {{beta: 0.1, loss_type: [sigmoid]}}
""")
    return spec


@pytest.mark.parametrize("zero", [2, 3])
def test_dpo_on_two_cpu_processes(tmp_path, tiny_assets, zero):
    pairs = write_pairs(tmp_path / "pairs.jsonl", tiny_assets)
    spec = dpo_spec(tmp_path, tiny_assets, pairs, f"dpo-z{zero}", zero)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", f"dpo-z{zero}")
    m = metrics(row)
    assert row["state"] == "COMPLETED" and 0 < m["train_loss"] < 2 and "rewards/margins" in m
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(row["run_dir"], "tb")))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/rewards/margins", "train/rewards/accuracies", "train/loss"} <= tags
    assert (Path(row["run_dir"], "checkpoints", "final") / "model.safetensors").exists()


def test_empty_chosen_answers_stop_before_training(tmp_path, tiny_assets):
    pairs = write_pairs(tmp_path / "pairs.jsonl", tiny_assets, n=8, empty_row=3)
    spec = dpo_spec(tmp_path, tiny_assets, pairs, "dpo-bad", 2)
    assert run_cli("launch", spec, "--executor", "local", "--yes")[0] == 1
    (row,) = status(tmp_path / "runs", "dpo-bad")
    log = Path(row["run_dir"], "logs", "node0.err").read_text()
    assert f"{pairs}: row 4 has an empty 'good'" in log
    assert not Path(row["run_dir"], "checkpoints").exists()
