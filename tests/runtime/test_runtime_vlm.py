"""Vision-language models in the sft and dpo tasks: a tiny LLaVA-style model (CLIP tower,
projector, Qwen2 LM; PIL image processing, no torchvision) on noisy colour images."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.launch_helpers import metrics, run_cli, status

pytestmark = pytest.mark.slow

COLOURS = ["red", "green", "blue", "yellow"]


def spec(tmp_path: Path, assets: Path, kind: str, train: Path, name: str, steps: int = 30) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""\
name: {name}
kind: {kind}
output_root: {tmp_path / "runs"}
model: {{name_or_path: {assets / "tiny-vlm"}, dtype: fp32}}
data: {{train: {train}, image_field: image}}
training: {{lr: 3.0e-3, max_steps: {steps}, global_batch_size: 8, micro_batch_size: 4, precision: fp32,
           max_length: 64, logging_steps: 5, save_steps: {steps}}}
deepspeed: {{zero_stage: 2}}
resources: {{gpus_per_node: 0, procs_per_node: 2, cpus_per_task: 2, time: 30}}
""")
    return path


def test_vlm_sft_learns_to_name_the_colour(tmp_path, tiny_assets):
    path = spec(tmp_path, tiny_assets, "sft", tiny_assets / "tiny-colours" / "train.jsonl", "vlm-sft")
    code, _, err = run_cli("launch", path, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "vlm-sft")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(row["run_dir"], "tb")))
    acc.Reload()
    token_acc = [e.value for e in acc.Scalars("train/mean_token_accuracy")]
    assert token_acc[-1] > token_acc[0] and metrics(row)["train_loss"] > 0
    from transformers import AutoModelForImageTextToText, AutoProcessor

    final = Path(row["run_dir"], "checkpoints", "final")
    assert AutoModelForImageTextToText.from_pretrained(final) and AutoProcessor.from_pretrained(final)


def test_vlm_dpo_with_images(tmp_path, tiny_assets):
    rng = random.Random(0)
    rows = [json.loads(line) for line in (tiny_assets / "tiny-colours" / "train.jsonl").read_text().splitlines()]
    pairs = tmp_path / "pairs.jsonl"
    with open(pairs, "w") as fh:
        for r in rows[:48]:
            wrong = rng.choice([c for c in COLOURS if c != r["completion"]])
            fh.write(json.dumps({"image": str(tiny_assets / "tiny-colours" / r["image"]), "prompt": r["prompt"],
                                 "chosen": r["completion"], "rejected": wrong}) + "\n")
    path = spec(tmp_path, tiny_assets, "dpo", pairs, "vlm-dpo", steps=10)
    code, _, err = run_cli("launch", path, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "vlm-dpo")
    m = metrics(row)
    assert row["state"] == "COMPLETED" and "rewards/margins" in m


def test_an_image_that_does_not_open_is_named(tmp_path, tiny_assets):
    data = tmp_path / "data.jsonl"
    (tmp_path / "broken.png").write_text("not a png")
    data.write_text(json.dumps({"image": "broken.png", "prompt": "What color is this?", "completion": "red"}) + "\n")
    path = spec(tmp_path, tiny_assets, "sft", data, "vlm-bad", steps=2)
    assert run_cli("launch", path, "--executor", "local", "--yes")[0] == 1
    (row,) = status(tmp_path / "runs", "vlm-bad")
    log = Path(row["run_dir"], "logs", "node0.err").read_text()
    assert f"{data}: row 1: image 'broken.png' does not open" in log
