"""Route radio: the full-scale plan, the spec's refusals, and the tiny example end to end
(four random tiny teachers, three ViTs and a ConvNeXt, distilled into a student on DeepSpeed,
fidelity and kNN, LLaVA's two stages for three encoder variants, evaluation) with the report;
the teacher cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler import compile
from specs import load_spec
from specs.errors import LabspecError
from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, status, tiny_example


def test_full_scale_example_compiles_to_its_plan():
    runs = {r.name: r for r in compile(load_spec(EXAMPLES / "radio.yaml")).runs}
    variants = ["clip", "dinov2", "sam", "student", "concat"]
    assert list(runs) == ["distill", "evaluate_encoder", *(f"{stage}_{v}" for v in variants for stage in (
        "mllm_pretrain", "mllm", "evaluate_mllm"))]
    ids = {name: r.id for name, r in runs.items()}
    assert runs["distill"].resources["nodes"] == 2 and runs["distill"].deepspeed["zero_optimization"]["stage"] == 1
    assert runs["evaluate_encoder"].depends_on == (ids["distill"],)
    for v in variants:
        pre, ft, ev = runs[f"mllm_pretrain_{v}"], runs[f"mllm_{v}"], runs[f"evaluate_mllm_{v}"]
        assert pre.config["task_config"]["phase"] == "pretrain" and ft.config["task_config"]["phase"] == "finetune"
        assert ft.config["task_config"]["init"] == pre.config["outputs"]["model"]
        assert pre.config["training"]["lr"] == 1e-3 and pre.config["training"]["max_steps"] == 2180
        assert ft.config["training"]["lr"] == 2e-5 and ft.deepspeed["zero_optimization"]["stage"] == 3
        assert ids[f"mllm_pretrain_{v}"] in ft.depends_on and ev.depends_on == (ids[f"mllm_{v}"],)
        assert (ids["distill"] in pre.depends_on) == (v == "student")  # only the student waits for distillation
        assert ev.config["task_config"]["evaluator"] == "mllm"
    concat = runs["mllm_concat"].config["task_config"]["encoder"]
    assert concat["type"] == "concat" and [t["name"] for t in concat["teachers"]] == ["clip", "dinov2", "sam"]
    (sam,) = runs["mllm_sam"].config["task_config"]["encoder"]["teachers"]
    assert sam["resolution"] == 1024 and sam["summary"] is None and sam["feature_weight"] == 0.5
    assert runs["mllm_pretrain_clip"].config["task_config"]["llm"]["name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.mark.parametrize(("override", "message"), [
    (["radio.distill.cache_teachers=true"], "the features of a flipped image are not the flipped features"),
    (["deepspeed.zero_stage=3"], "distillation runs with ZeRO 0-2"),
    (["radio.mllm.variants=[clip, vit]"], "unknown variant 'vit'"),
])
def test_the_spec_refuses(override, message):
    with pytest.raises(LabspecError, match=message):
        load_spec(EXAMPLES / "radio.yaml", override)


@pytest.mark.slow
def test_tiny_radio_end_to_end_with_report(tmp_path, tiny_assets):
    code, _, err = run_cli("launch", tiny_example("radio-tiny", tmp_path, tiny_assets), "--executor", "local", "--yes",
                           "--allow-dirty")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "radio-tiny")}
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    run = {name: Path(r["run_dir"]) for name, r in rows.items()}

    # the distilled bundle: a student that loads alone, adaptors and PHI-S per teacher
    from runtime.radio import bundle

    student, adaptors, phis, shapes = bundle.load(run["distill"] / "checkpoints/final")
    assert [s.name for s in shapes] == ["clip", "dinov2", "sam", "convnext"]
    assert sorted(phis) == ["clip", "convnext", "dinov2", "sam"]
    assert student.config.summary_names == ["clip", "dinov2", "convnext"]  # SAM has no summary
    import torch

    adapted = adaptors(*student(torch.rand(2, 3, 40, 40)))
    assert adapted["sam"][0] is None and adapted["sam"][1].shape == (2, 16, 4, 4)  # SAM's width, student grid
    assert adapted["convnext"][0].shape == (2, 32) and adapted["convnext"][1].shape == (2, 32, 4, 4)  # its stage 4
    # per-teacher losses next to the total, read back from the TensorBoard events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run["distill"] / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/loss", "train/loss/clip/summary", "train/loss/clip/features", "train/loss/sam/features",
            "train/loss/convnext/summary", "train/loss/convnext/features"} <= set(tags)
    assert "train/loss/sam/summary" not in tags

    enc = metrics(rows["evaluate_encoder"])
    for t in ("clip", "dinov2", "sam", "convnext"):
        assert 0.05 < enc[f"fidelity/{t}/features"] <= 1.0  # the heads learned something of every teacher
        assert 0.0 <= enc[f"knn/{t}"] <= 1.0 and 0.0 <= enc[f"linear/{t}"] <= 1.0
    assert -1.0 <= enc["fidelity/clip/summary_mean_baseline"] <= 1.0
    assert "fidelity/sam/summary" not in enc and {"knn/student:clip", "knn/student:dinov2"} <= set(enc)
    assert 0.0 <= enc["knn/student"] <= 1.0 and 0.0 <= enc["linear/student"] <= 1.0  # its own summary tokens

    # LLaVA's two stages per variant: the finetune run starts from the pretrain run's model
    for v in ("convnext", "student", "concat"):
        cfg = json.loads((run[f"mllm_{v}"] / "run.json").read_text())["task_config"]
        assert cfg["init"] == str(run[f"mllm_pretrain_{v}"] / "checkpoints/final")
        meta = json.loads((run[f"mllm_{v}"] / "checkpoints/final/mllm.json").read_text())
        assert meta["encoder"]["type"] == {"convnext": "teacher"}.get(v, v)
        preds = (run[f"evaluate_mllm_{v}"] / "outputs/predictions.jsonl").read_text().splitlines()
        assert len(preds) == len((tiny_assets / "tiny-shapes/vqa-test.jsonl").read_text().splitlines())
        m = metrics(rows[f"evaluate_mllm_{v}"])
        assert m["exact_match"] == pytest.approx(sum(json.loads(p)["exact_match"] for p in preds) / len(preds))

    code, out, _ = run_cli("report", "radio-tiny", "--root", tmp_path / "runs")
    assert code == 0 and "## MLLM on each encoder variant" in out
    md = (tmp_path / "runs" / "radio-tiny" / "report" / "report.md").read_text()
    assert (f"| sam |  |  | {enc['fidelity/sam/features']:.3f} | {enc['fidelity/sam/features_mean_baseline']:.3f} |"
            in md)
    assert f"| student:dinov2 | {enc['knn/student:dinov2']:.3f} |" in md
    assert f"| student | {enc['knn/student']:.3f} | {enc['linear/student']:.3f} |" in md
    assert f"| convnext | {enc['fidelity/convnext/summary']:.3f} |" in md  # the ConvNeXt teacher's row
    for v in ("convnext", "student", "concat"):
        assert f"| {v} | - | {metrics(rows[f'evaluate_mllm_{v}'])['exact_match']:.3f} |" in md
    assert (tmp_path / "runs" / "radio-tiny" / "report" / "radio_mllm_variants.png").stat().st_size > 1000


@pytest.mark.slow
def test_cached_teachers_without_augmentation(tmp_path, tiny_assets):
    spec = tiny_example("radio-tiny", tmp_path, tiny_assets)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty",
                           "-o", "radio.distill.cache_teachers=true", "-o", "radio.distill.augment=false",
                           "-o", "radio.mllm.variants=[clip]")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "radio-tiny")}
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    row = rows["distill"]
    index = json.loads((Path(row["run_dir"]) / "teacher_cache" / "index.json").read_text())
    assert index["complete"] and index["num_images"] == 256
    assert metrics(row)["train_loss"] > 0
