"""Helpers for the launch tests: run the CLI, read the ledger, wait for states."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

from launch.cli import main

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "UPSTREAM_FAILED", "OUT_OF_MEMORY", "NODE_FAIL"}


def run_cli(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def status(root: Path, experiment: str) -> list[dict[str, Any]]:
    code, out, err = run_cli("status", experiment, "--root", root, "--format", "json")
    assert code == 0, err
    runs: list[dict[str, Any]] = json.loads(out)["runs"]
    return runs


def wait_final(root: Path, experiment: str, timeout: float = 120, states: set[str] | None = None
               ) -> dict[str, dict[str, Any]]:
    """Poll `labspec status` until every run is in a final state; {run name: row}."""
    want = states or FINAL
    deadline = time.time() + timeout
    rows: list[dict[str, Any]] = []
    while time.time() < deadline:
        rows = status(root, experiment)
        if rows and all(r["state"] in want for r in rows):
            return {r["name"]: r for r in rows}
        time.sleep(1.0)
    raise AssertionError(f"runs did not finish in {timeout}s: {[(r['name'], r['state']) for r in rows]}")


def preempt_when(root: Path, experiment: str, ready: Any, timeout: float = 180) -> dict[str, dict[str, Any]]:
    """Once `ready(row)` holds, send the run's job what SLURM sends before a time limit or on
    preemption (submitit's --signal=USR2@N), then wait until the run has finished."""
    import subprocess

    (row,) = status(root, experiment)
    deadline = time.time() + timeout
    while not ready(row):
        assert time.time() < deadline, f"{experiment}: not ready to be signalled in {timeout}s"
        time.sleep(0.2)
    subprocess.run(["scancel", "--signal=USR2", row["job_id"]], check=True)
    return wait_final(root, experiment, timeout=300)


def metrics(row: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(row["run_dir"], "outputs", "metrics.json").read_text())
    return data


def run_json(run_dir: Path, task: str, task_config: dict[str, Any], outputs: dict[str, str] | None = None,
             base_dir: Path | None = None, **envelope: Any) -> dict[str, Any]:
    """A hand-written run.json for one task (TensorBoard off); `outputs` default to the
    task's own (relative to the run dir)."""
    from specs.tasks import TASK_CONFIGS
    from specs.version import VERSION

    rel = outputs if outputs is not None else TASK_CONFIGS[task].all_outputs()
    return {"labspec_version": VERSION, "experiment": "test", "kind": "test", "run_id": "test", "run_name": task,
            "stage": task, "stage_type": task, "task": task, "seed": 0, "run_dir": str(run_dir),
            "base_dir": str(base_dir or run_dir), "coordinates": {"role": task}, "task_config": task_config,
            "paths": {d: str(run_dir / d) for d in ("checkpoints", "outputs", "logs", "tb")},
            "tensorboard": {"enabled": False, "log_dir": str(run_dir / "tb")},
            "outputs": {k: str(run_dir / v) for k, v in rel.items()}, **envelope}


def run_config(run_dir: Path, task: str, task_config: dict[str, Any], **kwargs: Any) -> Any:
    """The same, validated as the runtime does: a specs.tasks.RunConfig to call a task with."""
    from specs.tasks import RunConfig

    return RunConfig.model_validate(run_json(run_dir, task, task_config, **kwargs))


def run_task(run_dir: Path, task: str, task_config: dict[str, Any], outputs: dict[str, str] | None = None,
             base_dir: Path | None = None, python: str | None = None, env: dict[str, str] | None = None,
             **envelope: Any) -> Any:
    """`python -m runtime RUN_DIR` on a hand-written run.json: one task on its own, for its
    unit tests. The task config is validated by the runtime against its model (specs.tasks).
    `python`: another environment's interpreter (e.g. vLLM's)."""
    import os
    import subprocess
    import sys

    config = run_json(run_dir, task, task_config, outputs, base_dir, **envelope)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(config))
    return subprocess.run([python or sys.executable, "-m", "runtime", str(run_dir)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent,
                          env={**os.environ, "LABSPEC_RUN_DIR": str(run_dir), **(env or {})})


def tiny_example(name: str, tmp_path: Path, assets: Path) -> Path:
    """A `-tiny` example spec copied under tmp_path: fixtures from `assets`, runs under
    tmp_path/runs, the spec it extends named by its absolute path."""
    import re

    examples = Path(__file__).resolve().parent.parent / "specs" / "examples"
    text = (examples / f"{name}.yaml").read_text().replace("runs/assets", str(assets))
    text = text.replace("output_root: runs", f"output_root: {tmp_path / 'runs'}")
    text = re.sub(r"^extends: (\S+)$", lambda m: f"extends: {examples / m.group(1)}", text, flags=re.M)
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text)
    return spec
