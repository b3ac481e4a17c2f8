"""The quickstart end to end on the local executor, and `labspec report` on its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, status

pytestmark = pytest.mark.slow


def test_quickstart_runs_and_reports(tmp_path, tiny_assets):
    spec = tmp_path / "quickstart.yaml"
    text = (EXAMPLES / "quickstart.yaml").read_text().replace("runs/assets", str(tiny_assets))
    spec.write_text(text.replace("output_root: runs", f"output_root: {tmp_path / 'runs'}")
                    .replace("max_steps: 500", "max_steps: 120"))
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "quickstart")}
    assert list(rows) == ["sft", "evaluate_start", "generate_t0", "pairs_t0", "train_t0", "evaluate_t0"]
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}
    pairs = metrics(rows["pairs_t0"])
    assert pairs["pairs"] == pairs["new_pairs"] > 0  # wrong answers of the SFT model became rejected ones
    # DPO started from the SFT model, with the SFT model as its reference
    train_cfg = json.loads(Path(rows["train_t0"]["run_dir"], "run.json").read_text())["task_config"]
    assert train_cfg["reference"]["name_or_path"] == str(Path(rows["sft"]["run_dir"], "checkpoints", "final"))

    code, out, _ = run_cli("report", "quickstart", "--root", tmp_path / "runs")
    assert code == 0
    report = tmp_path / "runs" / "quickstart" / "report"
    md = (report / "report.md").read_text()
    before, after = metrics(rows["evaluate_start"]), metrics(rows["evaluate_t0"])
    assert f"{before['exact_match']:.4g}" in md and f"{after['exact_match']:.4g}" in md
    assert (report / "training_curves.png").stat().st_size > 1000
    assert "labspec tb quickstart" in out
