"""The full-scale examples rehearsed end to end (`labspec launch SPEC --rehearse`), on this
machine with nothing of their models or data on disk, and spin's on the SLURM test cluster.
Each test checks what was loaded (`outputs/loaded.json`), not only that the runs finished:
Qwen2-VL's classes through SFT, evaluation, mining and DPO; CLIP, DINOv2 and SAM with their
own image processors' files; lm-eval's named gsm8k task; the 72B cells spread by device_map.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, status, wait_final

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def nothing_real_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def rehearse(name: str, tmp_path: Path, *extra: str) -> dict[str, dict[str, Any]]:
    """Rehearse an example locally: every run COMPLETED and the report rendered; {run name: row}."""
    root = tmp_path / "runs"
    started = time.time()
    code, _, err = run_cli("launch", EXAMPLES / f"{name}.yaml", "--rehearse", "--executor", "local", "-y",
                           "-o", f"output_root={root}", *extra)
    print(f"rehearsal of {name}: {time.time() - started:.0f} s")  # the note's figures (pytest -s)
    rows = {r["name"]: r for r in status(root, _experiment(root))}
    failed = {n: r["state"] for n, r in rows.items() if r["state"] != "COMPLETED"}
    assert code == 0 and not failed, f"{failed}\n{err[-3000:]}"
    code, out, err = run_cli("report", _experiment(root), "--root", root)
    assert code == 0, err
    assert "This is a rehearsal" in out and "This is a rehearsal" in (root / _experiment(root) / "report" /
                                                                      "report.md").read_text()
    return rows


def _experiment(root: Path) -> str:
    (name,) = [p.name for p in root.iterdir() if p.name.endswith(".rehearsal")]
    return name


def loaded(row: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(Path(row["run_dir"], "outputs", "loaded.json").read_text())
    return result


def test_formula_dpo_rehearses_qwen2_vl_through_sft_evaluation_mining_and_dpo(tmp_path):
    rows = rehearse("formula_dpo", tmp_path)
    for stage in ("sft", "evaluate_sft_train", "evaluate_sft_test", "dpo", "evaluate_dpo_test"):
        seen = loaded(rows[stage])
        assert seen["model"]["class"] == "Qwen2VLForConditionalGeneration", stage
        assert seen["model/processor"]["image_processor"].startswith("Qwen2VLImageProcessor"), stage
        assert seen["model/processor"]["tokenizer"] == "Qwen2Tokenizer", stage
    assert metrics(rows["mine"])["pairs"] > 0
    test = metrics(rows["evaluate_sft_test"])
    assert {"SPE/validity", "HWE/validity", "validity"} <= set(test)  # KaTeX parsed every prediction
    assert metrics(rows["prepare"])["train_images"] == 32  # UniMER-1M's layout, read by its reader


def test_radio_rehearses_clip_dinov2_and_sam_with_their_own_image_processors(tmp_path):
    rows = rehearse("radio", tmp_path)
    seen = loaded(rows["distill"])
    environment = json.loads(Path(rows["distill"]["run_dir"], "environment.json").read_text())
    assert environment["executable"] and environment["packages"]["torch"]  # what ran it, beside what it loaded
    assert environment["code"]["snapshot"]  # the launch's code snapshot, not the working tree
    teachers = {k: v for k, v in seen.items() if k.startswith("teacher/")}
    assert {k: v["class"] for k, v in teachers.items()} == {
        "teacher/clip": "CLIPVisionModel", "teacher/dinov2": "Dinov2Model", "teacher/sam": "SamVisionModel"}
    assert all(v["normalisation"].endswith("preprocessor_config.json") for v in teachers.values())
    assets = json.loads(Path(rows["rehearsal_assets"]["run_dir"], "outputs", "assets.json").read_text())
    assert {m["processor"] for m in assets["models"].values()} >= {
        "CLIPImageProcessorPil", "BitImageProcessorPil", "SamImageProcessorPil"}
    assert loaded(rows["mllm_pretrain_sam"])["llm"]["class"] == "Qwen2ForCausalLM"
    for variant in ("clip", "dinov2", "sam", "student", "concat"):
        assert rows[f"evaluate_mllm_{variant}"]["state"] == "COMPLETED"


def test_size_ladder_rehearses_named_lm_eval_tasks_and_spread_cells(tmp_path):
    rows = rehearse("size_ladder", tmp_path)
    small, large = rows["eval_q0.5b_none"], rows["eval_q72b_none"]
    assert any(k.startswith("task/math__gsm8k/exact_match") for k in metrics(rows["eval_q72b_sc8"]))
    assert any(k.startswith("task/commonsense__hellaswag/acc") for k in metrics(small))
    assert "device_map" not in loaded(small)["model"]  # one GPU: no spread
    assert loaded(large)["model"] == {"class": "Qwen2ForCausalLM", "device_map": ["cpu", "disk"]}
    assert rows["aggregate"]["state"] == "COMPLETED"


def test_spin_reasoning_and_sft_rehearse_end_to_end(tmp_path):
    for name in ("spin", "reasoning", "sft"):
        rows = rehearse(name, tmp_path / name)
        trained = [r for n, r in rows.items() if n.startswith(("train", "sft"))]
        assert trained and all(loaded(r)["model"]["class"] == "Qwen2ForCausalLM" for r in trained), name
        if name == "reasoning":
            solver = loaded(rows["plan_solve"])["solver"]
            assert solver["device_map"] == ["cpu", "disk"]  # the 72B solver's 4 GPUs, simulated


@pytest.mark.usefixtures("slurm_cluster")
def test_spin_rehearses_on_the_slurm_test_cluster(tmp_path):
    root = tmp_path / "runs"
    code, _, err = run_cli("launch", EXAMPLES / "spin.yaml", "--rehearse", "--executor", "slurm",
                           "--partition", "debug", "-y", "-o", f"output_root={root}")
    assert code == 0, err
    rows = wait_final(root, "spin-qwen2.5-0.5b.rehearsal", timeout=900)
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, {n: r["state"] for n, r in rows.items()}
    assert all(r["executor"] == "slurm" and r["job_id"] for r in rows.values())


def test_gpu_check_script_runs_its_three_cases_at_rehearsal_size(tmp_path):
    """bench/gpu_check.sh is run by hand when a GPU is lent; --cpu runs the same script
    here so it cannot rot between loans."""
    import subprocess

    from tests.conftest import REPO

    done = subprocess.run(["bench/gpu_check.sh", "--cpu", "--root", str(tmp_path / "check")], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line[:4] in ("sft ", "dpo ", "dist")}
    assert set(table) == {"sft", "dpo", "distill"}, done.stdout
    assert float(table["sft"][1].replace(",", "")) > 0 and table["sft"][2:4] == ["tokens/s", "n/a"]
    assert table["distill"][2] == "images/s"  # the row reads: case, rate, unit, MFU, memory, estimate, wall
    steps = {line.split()[0]: line for line in done.stdout.splitlines() if " ms  (" in line}
    assert set(steps) == {"none", "sync", "runtime"}, done.stdout  # SFT+LoRA step time by stop check
