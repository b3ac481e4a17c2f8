"""`labspec launch` against the project's real two-node SLURM cluster (tests/cluster/up.sh).

Every test launches the `smoke` kind: torch.distributed (gloo) all-reduces, checkpoints
and resumes, so the launch path is exercised for real before any trainer exists.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from launch.ledger import Ledger
from tests.conftest import REPO, SMOKE
from tests.launch_helpers import metrics, preempt_when, run_cli, status, wait_final

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]


def smoke_spec(tmp_path: Path, name: str = "smoke", **smoke: object) -> Path:
    root = tmp_path / "runs"
    text = SMOKE.format(root=root).replace("name: smoke", f"name: {name}")
    if smoke:
        fields = ", ".join(f"{k}: {json.dumps(v)}" for k, v in {"steps": 4, "checkpoint_every": 2, **smoke}.items())
        text = re.sub(r"smoke: \{.*\}", f"smoke: {{{fields}}}", text)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_two_node_job_all_reduces_across_nodes(tmp_path):
    spec = smoke_spec(tmp_path, "twonode")
    code, _, err = run_cli("launch", spec, "--yes", "-o", "resources.nodes=2")
    assert code == 0, err
    rows = wait_final(tmp_path / "runs", "twonode")
    (row,) = rows.values()
    assert row["state"] == "COMPLETED", row
    m = metrics(row)
    assert m["world_size"] == 2 and m["hosts"] == "n[1-2]"
    assert m["total"] == m["expected_total"] == 4 * (1 + 2)  # steps x (rank0 + rank1 contributions)
    outs = sorted(p.name for p in Path(row["run_dir"], "logs").glob("node*.out"))
    assert outs == ["node0.out", "node1.out"]  # one task per node, each ran the launch script


def test_grid_goes_as_one_array_and_every_point_runs(tmp_path):
    spec = smoke_spec(tmp_path, "grid")
    code, _, err = run_cli("launch", spec, "--yes", "-o", "sweep.grid.smoke.value=[1,2,3]")
    assert code == 0, err
    assert "3 task(s) as job" in err
    rows = wait_final(tmp_path / "runs", "grid")
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}
    array_ids = {r["job_id"].split("_")[0] for r in rows.values()}
    assert len(array_ids) == 1 and all("_" in r["job_id"] for r in rows.values())
    assert sorted(metrics(r)["total"] for r in rows.values()) == [4.0, 8.0, 12.0]


def test_two_stage_plan_runs_in_order(tmp_path):
    spec = smoke_spec(tmp_path, "chain", chain=2)
    assert run_cli("launch", spec, "--yes")[0] == 0
    rows = wait_final(tmp_path / "runs", "chain")
    first, second = rows["smoke_0"], rows["smoke_1"]
    assert first["state"] == second["state"] == "COMPLETED"
    assert metrics(second)["result"] == metrics(first)["result"] + metrics(second)["total"]
    ended_first = max(e["at"] for e in first["events"])
    started_second = Path(second["run_dir"], "logs", "node0.out").stat().st_ctime
    assert started_second >= ended_first - 2  # it could not start before its upstream ended


def test_a_failing_stage_marks_its_dependents_and_shows_the_error(tmp_path):
    spec = smoke_spec(tmp_path, "failing", chain=3, fail_stage=1)
    assert run_cli("launch", spec, "--yes")[0] == 0
    rows = wait_final(tmp_path / "runs", "failing", timeout=120)
    assert rows["smoke_0"]["state"] == "COMPLETED"
    assert rows["smoke_1"]["state"] == "FAILED"
    assert rows["smoke_2"]["state"] == "UPSTREAM_FAILED" and "smoke_1" in rows["smoke_2"]["detail"]
    code, out, _ = run_cli("status", "failing", "--root", tmp_path / "runs")
    assert "smoke_1 (" in out and "failing on purpose" in out and "cannot start" in out
    job = rows["smoke_2"]["job_id"]
    queue = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True, check=False).stdout
    assert queue.strip() == ""  # cancelled, not left pending forever
    # --retry-failed resubmits the failed run and its dependents only
    code, _, err = run_cli("launch", spec, "--yes", "--retry-failed", "-o", "smoke.fail_stage=null")
    assert code == 0, err


def test_preempted_job_is_requeued_and_resumes_without_losing_a_step(tmp_path):
    spec = smoke_spec(tmp_path, "preempt", steps=24, checkpoint_every=3, step_seconds=0.5)
    assert run_cli("launch", spec, "--yes")[0] == 0

    def checkpointed(row):
        ckpt = Path(row["run_dir"], "checkpoints", "smoke.json")
        return ckpt.exists() and json.loads(ckpt.read_text())["step"] >= 3

    rows = preempt_when(tmp_path / "runs", "preempt", checkpointed)
    (row,) = rows.values()
    assert row["state"] == "COMPLETED", row
    m = metrics(row)
    assert m["restarts"] == 1 and m["resumed_from"][0] >= 3
    assert m["steps"] == 24 and m["total"] == m["expected_total"]  # no step lost or counted twice
    log = Path(row["run_dir"], "logs", "node0.out").read_text()
    assert "checkpointed at step" in log and "resuming from step" in log


def test_dry_run_shows_byte_for_byte_what_is_submitted(tmp_path):
    spec = smoke_spec(tmp_path, "dry", chain=2)
    code, shown, _ = run_cli("launch", spec, "--dry-run", "-o", "sweep.grid.smoke.value=[1,2]")
    assert code == 0
    assert not (tmp_path / "runs" / ".labspec").exists() or not Ledger(tmp_path / "runs").runs()
    assert run_cli("launch", spec, "--yes", "-o", "sweep.grid.smoke.value=[1,2]")[0] == 0
    rows = status(tmp_path / "runs", "dry")
    jobs = {r["name"].split("__")[0]: r["job_id"].split("_")[0] for r in rows}
    folder = tmp_path / "runs" / "dry" / ".submitit"
    blocks = shown.split("### ")
    for stage, n in (("smoke_0", 0), ("smoke_1", 1)):
        block = next(b for b in blocks if b.startswith(f"sbatch %job{n}:{stage}%"))
        expected = block.split("\n", 1)[1]
        submitted = (folder / jobs[stage] / f"{jobs[stage]}_submission.sh").read_text()
        token = re.search(r"--job-name='?dry\.\w+\.(\w+)", submitted).group(1)
        expected = expected.replace("%token%", token).replace("%job0:smoke_0%", jobs["smoke_0"])
        assert submitted == expected.rstrip("\n") + ("\n" if submitted.endswith("\n") else "")
    for r in rows:  # and the launch script each task runs is the one shown
        assert Path(r["run_dir"], "launch.sh").read_text() in shown


def test_launching_again_is_idempotent_and_force_resubmits(tmp_path):
    spec = smoke_spec(tmp_path, "again")
    assert run_cli("launch", spec, "--yes")[0] == 0
    first = status(tmp_path / "runs", "again")[0]["job_id"]
    code, _, err = run_cli("launch", spec, "--yes")
    assert code == 0 and "0 to submit" in err
    wait_final(tmp_path / "runs", "again")
    code, _, err = run_cli("launch", spec, "--yes", "--force")
    assert code == 0 and "1 to submit" in err
    assert status(tmp_path / "runs", "again")[0]["job_id"] != first


def test_two_launches_at_once_submit_each_run_once(tmp_path):
    spec = smoke_spec(tmp_path, "race", chain=2)
    cmd = [sys.executable, "-m", "launch", "launch", str(spec), "--yes", "--hold"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    names = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True, check=True).stdout
    assert sum(1 for n in names.split() if n.startswith("race.")) == 2  # two runs, two jobs, not four
    assert run_cli("cancel", "race", "--root", tmp_path / "runs")[0] == 0


def test_a_launch_killed_after_sbatch_is_completed_by_the_next(tmp_path, monkeypatch):
    spec = smoke_spec(tmp_path, "killed")
    import launch.ledger as ledger_mod

    real = ledger_mod.Ledger.set_states

    def dies_after_sbatch(self, updates):
        if any(state == "PENDING" and fields.get("job_id") for _, state, _, fields in updates):
            raise KeyboardInterrupt  # the launch is killed between sbatch and the ledger
        return real(self, updates)

    monkeypatch.setattr(ledger_mod.Ledger, "set_states", dies_after_sbatch)
    assert run_cli("launch", spec, "--yes", "--hold")[0] == 130  # interrupted
    monkeypatch.setattr(ledger_mod.Ledger, "set_states", real)
    (row,) = status(tmp_path / "runs", "killed")
    assert row["state"] == "SUBMITTING" and row["job_id"] is None

    code, _, err = run_cli("launch", spec, "--yes", "--hold")
    assert code == 0 and "recovered" in err and "0 to submit" in err
    (row,) = status(tmp_path / "runs", "killed")
    names = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True, check=True).stdout
    ours = [line.split()[0] for line in names.splitlines() if line.split()[1].startswith("killed.")]
    assert ours == [row["job_id"]]  # one job, the one the ledger now knows
    assert run_cli("cancel", "killed", "--root", tmp_path / "runs")[0] == 0


def test_cancel_a_run_cancels_what_depends_on_it(tmp_path):
    spec = smoke_spec(tmp_path, "cancelme", chain=3)
    assert run_cli("launch", spec, "--yes", "--hold")[0] == 0
    code, out, _ = run_cli("cancel", "smoke_1", "--root", tmp_path / "runs")
    assert code == 0 and "smoke_1" in out and "smoke_2" in out and "smoke_0" not in out
    rows = {r["name"]: r for r in status(tmp_path / "runs", "cancelme")}
    assert rows["smoke_1"]["state"] == rows["smoke_2"]["state"] == "CANCELLED"
    assert rows["smoke_0"]["state"] == "PENDING"
    assert run_cli("cancel", "cancelme", "--root", tmp_path / "runs")[0] == 0
    assert {r["state"] for r in status(tmp_path / "runs", "cancelme")} == {"CANCELLED"}


def test_bad_partition_and_missing_slurm_are_clear_errors(tmp_path):
    spec = smoke_spec(tmp_path, "badpart")
    code, _, err = run_cli("launch", spec, "--yes", "-o", "resources.partition=gpu")
    assert code == 1 and "partition(s) gpu do not exist" in err and "debug" in err
    assert "Traceback" not in err
    env = {**os.environ, "PATH": "/usr/bin/nonexistent"}
    done = subprocess.run([sys.executable, "-m", "launch", "launch", str(spec), "--yes", "--executor", "slurm"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "SLURM is not reachable" in done.stderr and "Traceback" not in done.stderr


def test_secrets_in_the_environment_are_never_written(tmp_path, monkeypatch):
    marker = "hf_SECRET_" + os.urandom(6).hex()
    monkeypatch.setenv("HF_TOKEN", marker)
    spec = smoke_spec(tmp_path, "secret")
    assert run_cli("launch", spec, "--yes")[0] == 0
    wait_final(tmp_path / "runs", "secret")
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path


def test_logs_show_a_runs_output(tmp_path):
    spec = smoke_spec(tmp_path, "logs")
    assert run_cli("launch", spec, "--yes")[0] == 0
    code, out, _ = run_cli("logs", "smoke_0", "--root", tmp_path / "runs", "-f")
    assert code == 0 and "=== " in out
    code, _, err = run_cli("logs", "nope", "--root", tmp_path / "runs")
    assert code == 1 and "no experiment or run 'nope'" in err
