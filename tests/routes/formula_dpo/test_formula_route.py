"""Route formula_dpo: the full-scale plan, the data task, and the tiny example end to end
(synthetic formulas rendered with mathtext, a tiny LLaVA-style model, real KaTeX, real TRL
DPO on DeepSpeed) with `labspec report` on its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler import compile
from specs import load_spec
from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, run_task, status, tiny_example


def test_full_scale_example_compiles_to_the_five_step_plan():
    plan = compile(load_spec(EXAMPLES / "formula_dpo.yaml"))
    runs = {r.name: r for r in plan.runs}
    assert list(runs) == ["prepare", "sft", "evaluate_sft_train", "evaluate_sft_test", "mine", "dpo",
                          "evaluate_dpo_test"]
    ids = {name: r.id for name, r in runs.items()}
    deps = {name: set(r.depends_on) for name, r in runs.items()}
    assert deps["sft"] == {ids["prepare"]}
    assert deps["evaluate_sft_train"] == deps["evaluate_sft_test"] == {ids["sft"], ids["prepare"]}
    assert deps["mine"] == {ids["evaluate_sft_train"]}
    assert deps["dpo"] == {ids["sft"], ids["mine"]}
    assert deps["evaluate_dpo_test"] == {ids["dpo"], ids["prepare"], ids["evaluate_sft_test"]}
    sft_model = runs["sft"].config["outputs"]["model"]
    dpo = runs["dpo"].config["task_config"]
    assert dpo["model"]["name_or_path"] == dpo["reference"]["name_or_path"] == sft_model  # from SFT, against it
    assert dpo["pairs"]["path"] == runs["mine"].config["outputs"]["pairs"]
    train_eval = runs["evaluate_sft_train"].config["task_config"]
    assert train_eval["options"]["extra_samples"] == 4 and train_eval["evaluation"]["max_samples"] == 50000
    assert runs["evaluate_dpo_test"].config["task_config"]["options"]["subsets"] == ["SPE", "CPE", "SCE", "HWE"]
    assert runs["evaluate_dpo_test"].config["task_config"]["options"]["baseline"] == runs[
        "evaluate_sft_test"].config["outputs"]["metrics"]
    assert runs["sft"].resources["gpus_per_node"] == 8 and runs["dpo"].deepspeed["zero_optimization"]["stage"] == 2
    assert runs["prepare"].resources["gpus_per_node"] == 0 and runs["prepare"].launcher == "python"
    assert runs["evaluate_sft_test"].resources["gpus_per_node"] == 1
    assert runs["dpo"].config["training"]["lr"] == 5e-7 and runs["sft"].config["training"]["lr"] == 1e-5


def test_lora_dpo_uses_the_adapters_as_reference():
    plan = compile(load_spec(EXAMPLES / "formula_dpo.yaml", ["peft.enabled=true"]))
    dpo = next(r for r in plan.runs if r.stage == "dpo")
    assert dpo.config["task_config"]["reference"] is None and dpo.config["peft"]["r"] > 0


def _run_task(tmp_path: Path, task: str, task_config: dict, outputs: dict):
    return run_task(tmp_path / task, task, task_config, outputs, base_dir=tmp_path)


DATA_OUTPUTS = {"train": "outputs/train.jsonl", "test": "outputs/test.jsonl", "images": "outputs/images",
                "metrics": "outputs/metrics.json"}


def test_data_task_reads_a_folder_with_jsonl_and_caps_the_splits(tmp_path):
    from PIL import Image

    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    for split, n in (("train", 10), ("test", 4)):
        with open(root / f"{split}.jsonl", "w") as fh:
            for i in range(n):
                Image.new("RGB", (30, 10), "white").save(root / "img" / f"{split}{i}.png")
                fh.write(json.dumps({"image": f"img/{split}{i}.png", "latex": f"x_{{{i}}}"}) + "\n")
    dataset = {"format": "folder_jsonl", "root": "data", "train_split": "train", "test_split": "test",
               "test_subsets": [], "max_train": 6}
    done = _run_task(tmp_path, "formula_data", {"dataset": dataset}, DATA_OUTPUTS)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "formula_data" / "outputs"
    train = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (out / "test.jsonl").read_text().splitlines()]
    assert len(train) == 6 and len(test) == 4
    assert all(Path(r["image"]).is_absolute() and Path(r["image"]).exists() for r in train + test)
    assert json.loads((out / "metrics.json").read_text())["train_images"] == 6


def test_data_task_names_a_missing_root(tmp_path):
    dataset = {"format": "unimer", "root": "nowhere", "train_split": "train", "test_split": "test",
               "test_subsets": ["SPE"]}
    done = _run_task(tmp_path, "formula_data", {"dataset": dataset}, DATA_OUTPUTS)
    assert done.returncode == 2 and "formula.dataset.root" in done.stderr and "Traceback" not in done.stderr


def test_mining_without_mistakes_fails_with_advice(tmp_path):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(json.dumps({"image": "/x.png", "gold": "x", "prediction": "x", "error_class": "correct",
                                       "valid": True}) + "\n")
    done = _run_task(tmp_path, "mine_pairs", {"predictions": str(predictions), "prompt": "p", "mining": {
        "pairs_per_image": 1, "extra_samples": 0, "temperature": 1.0, "unparseable_first": True}},
                     {"pairs": "outputs/pairs.jsonl", "metrics": "outputs/metrics.json"})
    assert done.returncode == 2 and "formula.mining.extra_samples" in done.stderr


@pytest.mark.slow
def test_tiny_route_end_to_end_with_report(tmp_path, tiny_assets):
    spec = tiny_example("formula_dpo-tiny", tmp_path, tiny_assets)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "formula-dpo-tiny")}
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    run = {name: Path(r["run_dir"]) for name, r in rows.items()}

    # the data: rendered PNGs, disjoint splits
    train = [json.loads(x) for x in (run["prepare"] / "outputs/train.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (run["prepare"] / "outputs/test.jsonl").read_text().splitlines()]
    assert len(train) == 64 and len(test) == 16 and not {r["latex"] for r in train} & {r["latex"] for r in test}

    # the evaluation's metrics are what its per-sample predictions say
    preds = [json.loads(x) for x in (run["evaluate_sft_train"] / "outputs/predictions.jsonl").read_text().splitlines()]
    m = metrics(rows["evaluate_sft_train"])
    assert len(preds) == 64 and all(len(p["samples"]) == 2 for p in preds)
    assert m["exact_match"] == pytest.approx(sum(p["exact_match"] for p in preds) / 64)
    assert m["validity"] == pytest.approx(sum(bool(p["valid"]) for p in preds) / 64)
    assert m["gold_validity"] == 1.0  # the synthetic grammar only writes what KaTeX parses
    assert {p["error_class"] for p in preds} <= {"correct", "invalid", "valid_wrong"}

    # every pair: chosen = gold, rejected = one of the model's own wrong candidates for that image
    pairs = [json.loads(x) for x in (run["mine"] / "outputs/pairs.jsonl").read_text().splitlines()]
    by_image = {p["image"]: p for p in preds}
    assert pairs and metrics(rows["mine"])["pairs"] == len(pairs)
    for pair in pairs:
        pred = by_image[pair["image"]]
        candidates = {pred["prediction"]: pred["error_class"], **{s["text"]: s["error_class"] for s in pred["samples"]}}
        assert pair["chosen"] == pred["gold"] and candidates[pair["rejected"]] == pair["rejected_class"] != "correct"
    assert len({p["image"] for p in pairs}) == len(pairs)  # pairs_per_image: 1

    # DPO from the SFT model, against it; TRL's rewards read back from the TensorBoard events
    dpo_cfg = json.loads((run["dpo"] / "run.json").read_text())["task_config"]
    assert dpo_cfg["reference"]["name_or_path"] == str(run["sft"] / "checkpoints/final")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run["dpo"] / "tb"))
    acc.Reload()
    assert "train/rewards/margins" in acc.Tags()["scalars"]

    before, after = metrics(rows["evaluate_sft_test"]), metrics(rows["evaluate_dpo_test"])
    for key in ("bleu", "edit_distance", "exact_match", "validity"):
        assert after[f"delta/{key}"] == pytest.approx(after[key] - before[key])

    code, out, _ = run_cli("report", "formula-dpo-tiny", "--root", tmp_path / "runs")
    assert code == 0
    md = (tmp_path / "runs" / "formula-dpo-tiny" / "report" / "report.md").read_text()
    section = md.split("## Before and after DPO")[1]
    assert f"| test | all | SFT | - | {before['bleu']:.3f} | {before['edit_distance']:.3f} |" in section
    assert f"| test | all | DPO | - | {after['bleu']:.3f} | {after['edit_distance']:.3f} |" in section
    assert f"Pairs mined (-): {len(pairs)} from" in section and "Before and after DPO" in out
    assert (tmp_path / "runs" / "formula-dpo-tiny" / "report" / "formula_before_after.png").stat().st_size > 1000
