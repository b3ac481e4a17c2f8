"""`labspec tb` on a real swept experiment, read through TensorBoard's own HTTP API: one
HParams row per grid point with every stage's figures, only the keys that vary, and runs,
rows and a timeline that appear while it runs. Then headless Chromium's view of the
HParams table and of the report (skipped, saying why, without Chromium)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.launch_helpers import metrics, run_cli, status, tiny_example

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
SWEEP = ["-o", "training.max_steps=6", "-o", "evaluation.generation.max_new_tokens=8"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TensorBoard:
    """A running `labspec tb`, asked through TensorBoard's HTTP API."""

    def __init__(self, root: Path, experiment: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = subprocess.Popen([sys.executable, "-m", "launch", "tb", experiment, "--root", str(root),
                                      "--port", str(self.port)], cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.banner = [self.proc.stdout.readline() for _ in range(3)]

    def get(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def until(self, what: Callable[[], Any], timeout: float = 90) -> Any:
        """The first truthy answer of `what` (TensorBoard loads and rescans its logdir in the background)."""
        deadline, last = time.time() + timeout, None
        while time.time() < deadline:
            try:
                if found := what():
                    return found
            except (OSError, ValueError, KeyError) as exc:
                last = exc
            time.sleep(1.0)
        raise AssertionError(f"TensorBoard never showed it (last error: {last})")

    def experiment(self) -> dict[str, Any]:
        found: dict[str, Any] = self.get("data/plugin/hparams/experiment",
                                         {"experimentName": "", "includeMetrics": True})
        return found

    def session_groups(self) -> list[dict[str, Any]]:
        exp = self.experiment()
        cols = [{"hparam": h["name"], "includeInResult": True} for h in exp.get("hparamInfos", [])]
        cols += [{"metric": m["name"], "includeInResult": True} for m in exp.get("metricInfos", [])]
        found = self.get("data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": STATUSES, "colParams": cols, "startIndex": 0,
            "sliceSize": 100, "includeMetrics": True})
        groups: list[dict[str, Any]] = found.get("sessionGroups", [])
        return groups

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, tiny_assets: Path) -> Iterator[tuple[Path, Path]]:
    """The sft-tiny learning-rate sweep (two points, `peft.r: [4]` and `seeds: [0]` constant), run."""
    tmp = tmp_path_factory.mktemp("tb")
    spec = tiny_example("sft-tiny", tmp, tiny_assets)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", *SWEEP)
    assert code == 0, err
    yield spec, tmp / "runs"


@pytest.mark.slow
def test_hparams_has_one_row_per_point_with_every_stage_and_follows_the_experiment(swept):
    spec, root = swept
    tb = TensorBoard(root, "sft-tiny")
    try:
        assert tb.banner[0].startswith(f"TensorBoard for sft-tiny: {tb.url}")
        assert "smoothing=0" in tb.banner[1] and "#hparams" in tb.banner[2]
        runs = tb.until(lambda: (r := tb.get("data/runs")) and len(r) >= 6 and r)
        assert not any(r.endswith("/.") for r in runs)
        rows = {r["name"]: r for r in status(root, "sft-tiny")}

        exp = tb.until(tb.experiment)
        assert [h["name"] for h in exp["hparamInfos"]] == ["training.lr"]  # peft.r and seed do not vary
        tags = {m["name"]["tag"] for m in exp["metricInfos"]}
        assert {"~evaluate/exact_match", "~sft/train_loss"} <= tags and "~sft/epoch" not in tags, tags
        groups = tb.session_groups()
        assert len(groups) == 2
        for group in groups:
            lr = group["hparams"]["training.lr"]
            values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
            evaluate = metrics(rows[f"evaluate__lr={lr:g}"])
            sft = metrics(rows[f"sft__lr={lr:g}"])
            assert values["~evaluate/exact_match"] == pytest.approx(evaluate["exact_match"])
            assert values["~sft/train_loss"] == pytest.approx(sft["train_loss"], rel=1e-6)

        # a third point, launched while TensorBoard runs: its runs and its row appear
        code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", *SWEEP,
                               "-o", "sweep.grid.training.lr=[1e-3,3e-3,1e-2]")
        assert code == 0, err
        assert tb.until(lambda: len(tb.session_groups()) == 3)
        assert tb.until(lambda: {"sft__lr=0.01", "evaluate__lr=0.01"} <= set(tb.get("data/runs")))

        # a timeline written after TensorBoard started appears under its own name
        assert "timeline" not in tb.get("data/runs")
        _write_timeline(rows["evaluate__lr=0.001"]["run_dir"])
        assert tb.until(lambda: "timeline" in tb.get("data/plugin/scalars/tags"))
        _screenshots(tb, root)
    finally:
        tb.close()


def test_a_busy_port_is_refused_before_any_url(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text((REPO / "specs" / "examples" / "smoke.yaml").read_text())
    assert run_cli("launch", spec, "--executor", "local", "--yes", "-o", f"output_root={tmp_path / 'runs'}",
                   "--allow-dirty")[0] == 0
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_cli("tb", "smoke", "--root", tmp_path / "runs", "--port", port)
    assert code == 1 and out == "" and f"cannot serve on 127.0.0.1:{port}" in err and "--port" in err


def _write_timeline(run_dir: str) -> None:
    """The runtime's own timeline writer, as an iterative route's run calls it."""
    from runtime.core.tb import log_timeline
    from specs.tasks import RunConfig

    data = json.loads(Path(run_dir, "run.json").read_text())
    data["task_config"]["timeline"] = {"step": 1, "prefix": "route/"}
    log_timeline(RunConfig.model_validate(data), {"accuracy": 0.5})


def _screenshots(tb: TensorBoard, root: Path) -> None:
    """The HParams table and the report's HTML as a browser draws them (LABSPEC_SCREENSHOTS=DIR keeps them)."""
    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        pytest.skip("no Chromium here (apt-get install chromium): the HParams table and report.html were not drawn")
    assert run_cli("report", "sft-tiny", "--root", root)[0] == 0
    html = root / "sft-tiny" / "report" / "report.html"
    assert "<img src=\"data:image/png;base64," in html.read_text()
    out = Path(os.environ.get("LABSPEC_SCREENSHOTS") or root / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    for name, url in (("hparams", tb.url + "#hparams"), ("report", html.as_uri()),
                      ("timeseries", tb.url + "?smoothing=0#timeseries")):
        png = out / f"{name}.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1400,1000", "--virtual-time-budget=10000", f"--screenshot={png}", url],
                       capture_output=True, timeout=120, check=True)
        assert png.stat().st_size > 20_000, f"{name}: a blank page?"
