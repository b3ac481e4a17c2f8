"""`labspec launch --executor local`, the ledger's guarantees, git hooks, TensorBoard."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from launch.ledger import Ledger
from tests.conftest import REPO, SMOKE
from tests.launch_helpers import metrics, run_cli, status

pytestmark = pytest.mark.slow


def write_smoke(path: Path, root: Path, name: str = "smoke", chain: int = 1, extra: str = "") -> Path:
    text = SMOKE.format(root=root).replace("name: smoke", f"name: {name}")
    text = text.replace("chain: 1", f"chain: {chain}{extra}")
    path.write_text(text)
    return path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=lab@example.org", "-c", "user.name=lab",
                           *args], capture_output=True, text=True, check=True).stdout


def test_local_executor_runs_the_plan_in_order_and_is_idempotent(tmp_path):
    spec = write_smoke(tmp_path / "s.yaml", tmp_path / "runs", chain=2)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "smoke")}
    assert rows["smoke_0"]["state"] == rows["smoke_1"]["state"] == "COMPLETED"
    assert metrics(rows["smoke_1"])["result"] == 2 * metrics(rows["smoke_0"])["result"]
    assert [e["state"] for e in rows["smoke_1"]["events"]] == ["NEW", "RUNNING", "COMPLETED"]
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0 and "0 to run" in err
    # --force runs again from scratch: the earlier attempt's outputs are set aside
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--force")
    assert code == 0 and "2 to run" in err
    first = rows["smoke_0"]
    assert metrics(first)["restarts"] == 0
    assert list(Path(first["run_dir"], "previous").glob("*/outputs/metrics.json"))


def test_another_experiment_with_the_same_settings_runs_on_its_own(tmp_path):
    a = write_smoke(tmp_path / "a.yaml", tmp_path / "runs", name="alpha")
    b = write_smoke(tmp_path / "b.yaml", tmp_path / "runs", name="beta")
    assert run_cli("launch", a, "--executor", "local", "--yes")[0] == 0
    code, _, err = run_cli("launch", b, "--executor", "local", "--yes")
    assert code == 0 and "1 to run" in err
    (row,) = status(tmp_path / "runs", "beta")
    assert row["state"] == "COMPLETED" and "/beta/" in row["run_dir"]


def test_local_failure_marks_dependents_and_exits_nonzero(tmp_path):
    spec = write_smoke(tmp_path / "s.yaml", tmp_path / "runs", name="bad", chain=3, extra=", fail_stage: 0")
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 1 and "FAILED smoke_0" in err
    states = {r["name"]: r["state"] for r in status(tmp_path / "runs", "bad")}
    assert states == {"smoke_0": "FAILED", "smoke_1": "UPSTREAM_FAILED", "smoke_2": "UPSTREAM_FAILED"}


def test_uncommitted_specs_are_refused_unless_allowed_and_recorded(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    spec = write_smoke(repo / "s.yaml", tmp_path / "runs")
    git(repo, "add", "s.yaml")
    git(repo, "commit", "-qm", "spec")
    spec.write_text(spec.read_text().replace("steps: 4", "steps: 2"))
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 1 and "uncommitted changes" in err and "--allow-dirty" in err
    assert not (tmp_path / "runs" / "smoke").exists()
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "smoke")
    prov = json.loads(Path(row["run_dir"], "provenance.json").read_text())
    assert prov["git_dirty"] is True and prov["allow_dirty"] is True
    assert prov["git_commit"] == git(repo, "rev-parse", "HEAD").strip()


def test_commit_a_spec_to_launch_it(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    code, out, _ = run_cli("hooks", "install", "--repo", repo, "--executor", "local")
    assert code == 0 and "post-commit" in out
    write_smoke(repo / "exp.yaml", tmp_path / "runs", name="hooked")
    (repo / "notes.yaml").write_text("just: data\n")
    (repo / "trap.py").write_text("raise SystemExit('a python spec must not run from a hook')\n")
    git(repo, "add", ".")
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm",
                           "launch it"], capture_output=True, text=True, check=True,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert "not launching trap.py" in done.stderr
    (row,) = status(tmp_path / "runs", "hooked")
    assert row["state"] == "COMPLETED"
    code, _, err = run_cli("launch", "--changed", "HEAD", "--executor", "local", "--yes")  # from cwd: not the repo
    assert code != 0 or "no labspec" in err
    assert run_cli("hooks", "uninstall", "--repo", repo)[0] == 0
    assert not (repo / ".git" / "hooks" / "post-commit").exists()


def test_tensorboard_serves_every_run_under_its_name(tmp_path):
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    spec = write_smoke(tmp_path / "s.yaml", tmp_path / "runs", chain=2)
    assert run_cli("launch", spec, "--executor", "local", "--yes")[0] == 0
    for row in status(tmp_path / "runs", "smoke"):
        writer = torch_tb.SummaryWriter(str(Path(row["run_dir"], "tb")))
        writer.add_scalar("loss", 1.0, 0)
        writer.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "launch", "tb", "smoke", "--root", str(tmp_path / "runs"),
                             "--port", str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert f"http://127.0.0.1:{port}/" in proc.stdout.readline()
        deadline, runs = time.time() + 60, []
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2) as resp:
                    runs = json.loads(resp.read())
                if len([r for r in runs if not r.startswith("hparams/")]) == 2:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert sorted(r for r in runs if not r.startswith("hparams/")) == ["smoke_0", "smoke_1"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_ledger_from_a_newer_labspec_is_refused_untouched(tmp_path):
    Ledger(tmp_path).close()
    db = sqlite3.connect(tmp_path / ".labspec" / "ledger.sqlite")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    before = (tmp_path / ".labspec" / "ledger.sqlite").read_bytes()
    code, _, err = run_cli("status", "--root", tmp_path)
    assert code == 1 and "newer labspec" in err and "Traceback" not in err
    assert (tmp_path / ".labspec" / "ledger.sqlite").read_bytes() == before


def test_unknown_names_are_clear_errors(tmp_path):
    spec = write_smoke(tmp_path / "s.yaml", tmp_path / "runs")
    assert run_cli("launch", spec, "--executor", "local", "--yes")[0] == 0
    code, _, err = run_cli("status", "smok", "--root", tmp_path / "runs")
    assert code == 1 and "did you mean smoke" in err
    code, _, err = run_cli("status", "--root", tmp_path / "elsewhere")
    assert code == 1 and "no labspec ledger" in err


def test_without_a_terminal_launch_asks_for_yes(tmp_path):
    spec = write_smoke(tmp_path / "s.yaml", tmp_path / "runs")
    done = subprocess.run([sys.executable, "-m", "launch", "launch", str(spec), "--executor", "local"],
                          cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "pass --yes" in done.stderr
    assert not list((tmp_path / "runs").glob("smoke/*/run.json"))  # nothing written
