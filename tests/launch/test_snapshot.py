"""Code snapshots (launch.snapshot): every job runs the code it was launched with.

A copy of the project's packages in a temp git repository stands for a researcher's
working tree: the CLI runs from it (PYTHONPATH), so its files can be changed while a launch
waits or runs, without touching the checkout the tests run from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from launch import snapshot
from launch.ledger import Ledger
from tests.conftest import REPO
from tests.launch.test_faults import can_mount_tmpfs
from tests.launch_helpers import run_cli, status, wait_final

MARKER = 'print("smoke: code marker launched", flush=True)'
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def make_project(where: Path, marker: bool = True) -> Path:
    """The project's packages, committed in their own repository; with `marker`, the smoke
    task prints which code it is before it starts."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard", "--",
                            *snapshot.PACKAGES], capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / name, where / name)
    if marker:
        smoke = where / "runtime" / "tasks" / "smoke.py"
        text = smoke.read_text()
        smoke.write_text(text.replace("    stop = StopFlag()\n", f"    {MARKER}\n    stop = StopFlag()\n", 1))
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "launched"]):
        subprocess.run(["git", "-C", str(where), *args], check=True, env=env, capture_output=True)
    return where


def change_marker(project: Path) -> None:
    smoke = project / "runtime" / "tasks" / "smoke.py"
    smoke.write_text(smoke.read_text().replace("code marker launched", "code marker changed"))


def labspec(project: Path, *args: object, **popen: object) -> subprocess.Popen[str]:
    """The CLI of `project` (its packages first on the path), as a researcher runs it there."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.Popen([sys.executable, "-m", "launch", *map(str, args)], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]


def smoke_spec(tmp_path: Path, name: str, steps: int, step_seconds: float, chain: int = 2,
               launcher: str = "python") -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(textwrap.dedent(f"""\
        name: {name}
        kind: smoke
        output_root: {tmp_path / 'runs'}
        resources: {{gpus_per_node: 0, procs_per_node: 1, cpus_per_task: 1, mem: 500M, time: "00:05:00"}}
        launcher: {launcher}
        smoke: {{steps: {steps}, checkpoint_every: 1, chain: {chain}, step_seconds: {step_seconds}}}
        """))
    return spec


def log_of(row: dict[str, object]) -> str:
    return Path(str(row["run_dir"]), "logs", "node0.out").read_text()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"), marker=False)


def test_two_launches_of_the_same_commit_share_one_snapshot(project, tmp_path):
    first, second = snapshot.take(project), snapshot.take(project)
    assert first.id == second.id and not first.dirty and first.patch == ""
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert first.commit == head.strip()
    assert "runtime/tasks/smoke.py" in first.files and "launch/snapshot.py" in first.files
    assert not any("__pycache__" in name for name in first.files)
    root = str(tmp_path / "runs")
    where = snapshot.store(first, root)
    assert snapshot.store(second, root) == where and list(snapshot.stored(root)) == [first.id]
    copied = where / "runtime" / "tasks" / "smoke.py"
    assert copied.read_bytes() == (project / "runtime" / "tasks" / "smoke.py").read_bytes()
    assert not os.access(copied, os.W_OK) or os.geteuid() == 0  # read-only (root may write anyway)
    assert oct(copied.stat().st_mode & 0o777) == "0o444"
    assert snapshot.manifest(where)["files"] == first.files


def test_a_dirty_tree_is_snapshotted_with_its_diff(tmp_path):
    project = make_project(tmp_path / "dirty", marker=False)
    clean = snapshot.take(project)
    loss = project / "runtime" / "tasks" / "smoke.py"
    loss.write_text(loss.read_text() + "\n# a new loss, not committed\n")
    (project / "runtime" / "new_loss.py").write_text("SCALE = 2\n")
    dirty = snapshot.take(project)
    assert dirty.dirty and dirty.id != clean.id and dirty.commit == clean.commit
    assert "+# a new loss, not committed" in dirty.patch and "untracked, in the snapshot: runtime/new_loss.py" \
        in dirty.patch
    where = snapshot.store(dirty, str(tmp_path / "runs"))
    assert (where / "runtime" / "new_loss.py").read_text() == "SCALE = 2\n"
    assert (where / snapshot.PATCH).read_text() == dirty.patch
    assert snapshot.manifest(where)["dirty"] is True


def test_gc_removes_only_the_snapshots_no_run_refers_to(project, tmp_path):
    root = tmp_path / "runs"
    used, unused = snapshot.take(project), snapshot.take(make_project(tmp_path / "other", marker=True))
    for snap in (used, unused):
        snapshot.store(snap, str(root))
    with Ledger(root) as ledger:
        ledger.upsert_planned("e", [("r1", "a", "a", str(root / "a"), (), 1, {})], {})
        ledger.set_code(["r1"], used.id)
    code, out, err = run_cli("code", "--root", root)
    assert code == 0 and f"{used.id}" in out and "1 runs" in out and "0 runs" in out
    code, out, err = run_cli("code", "--gc", "--root", root)
    assert code == 0, err
    assert f"removed {unused.id}" in out and used.id not in out.split("removed")[-1].split("\n")[0]
    assert list(snapshot.stored(str(root))) == [used.id]
    code, out, err = run_cli("code", used.id[:6], "--root", root)
    assert code == 0 and "e  a (r1)" in out
    code, _, err = run_cli("code", "ffff", "--root", root)
    assert code != 0 and "no code snapshot 'ffff'" in err and "Traceback" not in err


def test_a_local_launch_runs_its_snapshot_while_the_tree_changes(tmp_path):
    """Stage 2 starts after the working tree changed: it runs the code that was launched."""
    project = make_project(tmp_path / "project")
    spec = smoke_spec(tmp_path, "local-code", steps=4, step_seconds=0.5)
    launch = labspec(project, "launch", spec, "--executor", "local", "--yes")
    try:
        deadline = time.time() + 120
        while not list((tmp_path / "runs").glob("local-code/smoke_0-*/logs/node0.out")) or "code marker" not in \
                next((tmp_path / "runs").glob("local-code/smoke_0-*/logs/node0.out")).read_text():
            assert launch.poll() is None and time.time() < deadline, launch.stderr.read() if launch.stderr else ""
            time.sleep(0.1)
        change_marker(project)
        _, err = launch.communicate(timeout=120)
    finally:
        if launch.poll() is None:
            launch.kill()
    assert launch.returncode == 0, err
    rows = {r["stage"]: r for r in status(tmp_path / "runs", "local-code")}
    assert [r["state"] for r in rows.values()] == ["COMPLETED", "COMPLETED"]
    for row in rows.values():
        assert "code marker launched" in log_of(row) and "changed" not in log_of(row)
        prov = json.loads(Path(row["run_dir"], "provenance.json").read_text())
        env = json.loads(Path(row["run_dir"], "environment.json").read_text())
        assert env["code"] == {"dir": prov["code"]["dir"], "snapshot": prov["code"]["id"]}
    assert "code marker changed" in (project / "runtime" / "tasks" / "smoke.py").read_text()


def test_a_deleted_snapshot_fails_the_run_with_what_to_do(project, tmp_path):
    spec = smoke_spec(tmp_path, "gone", steps=1, step_seconds=0, chain=1)
    launch = labspec(project, "launch", spec, "--executor", "local", "--yes")
    _, err = launch.communicate(timeout=120)
    assert launch.returncode == 0, err
    (row,) = status(tmp_path / "runs", "gone")
    code_dir = json.loads(Path(row["run_dir"], "provenance.json").read_text())["code"]["dir"]
    snapshot.remove(Path(code_dir))
    again = subprocess.run(["bash", "launch.sh"], cwd=row["run_dir"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2
    assert f"code snapshot {code_dir} is gone" in again.stderr and "--retry-failed" in again.stderr
    code, out, _ = run_cli("code", "--root", tmp_path / "runs")
    assert code == 0 and "missing (deleted by hand?)" in out
    code, out, _ = run_cli("status", "gone", "--root", tmp_path / "runs", "--details")
    assert code == 0 and "(gone)" in out


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs root and unshare -m to mount a small tmpfs")
def test_a_full_disk_while_the_snapshot_is_written_submits_nothing(project, tmp_path):
    spec = smoke_spec(tmp_path, "full", steps=1, step_seconds=0, chain=1).read_text()
    small = tmp_path / "spec.yaml"
    small.write_text(spec.replace(str(tmp_path / "runs"), "/mnt/small/runs"))
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "full.sh"
    script.write_text(textwrap.dedent(f"""\
        set -u
        mkdir -p /mnt/small && mount -t tmpfs -o size=512k tmpfs /mnt/small  # the ledger fits, the code does not
        cd {project}
        PYTHONPATH={project} {sys.executable} -m launch launch {small} --executor local --yes > {out}/launch.out \\
          2> {out}/launch.err
        echo $? > {out}/launch.rc
        ls -a /mnt/small/runs/.labspec/code > {out}/code.ls 2>&1
        ls /mnt/small/runs > {out}/runs.ls
        {sys.executable} -m launch status full --root /mnt/small/runs > {out}/status.out 2>&1
        true
        """))
    subprocess.run(["unshare", "-m", "bash", str(script)], check=True, timeout=300)
    err = (out / "launch.err").read_text()
    assert (out / "launch.rc").read_text().strip() == "1"
    assert "cannot write the code snapshot" in err and "nothing was submitted" in err and "Traceback" not in err
    assert (out / "code.ls").read_text().split() in ([".", ".."], [])  # no half snapshot left to be shared
    assert "full" not in (out / "runs.ls").read_text().split()  # no run dir was written
    assert "no experiment or run 'full'" in (out / "status.out").read_text()  # the ledger recorded nothing


@pytest.mark.slow
def test_held_slurm_jobs_and_a_requeue_run_the_launched_code(tmp_path, slurm_cluster):
    """Launched held; the tree changes; released: both stages, and the first stage's
    requeue after SLURM's USR2, run the code that was launched."""
    project = make_project(tmp_path / "project")
    root = tmp_path / "runs"
    spec = smoke_spec(tmp_path, "held-code", steps=8, step_seconds=0.5)
    launch = labspec(project, "launch", spec, "--yes", "--hold")
    _, err = launch.communicate(timeout=120)
    assert launch.returncode == 0, err
    rows = {r["stage"]: r for r in status(root, "held-code")}
    assert {r["state"] for r in rows.values()} == {"PENDING"}
    change_marker(project)
    jobs = sorted({str(r["job_id"]).split("_")[0] for r in rows.values()})
    subprocess.run(["scontrol", "release", *jobs], check=True, capture_output=True)
    checkpoint = Path(rows["smoke_0"]["run_dir"], "checkpoints", "smoke.json")
    deadline = time.time() + 180
    while not (checkpoint.exists() and json.loads(checkpoint.read_text())["step"] >= 2):
        assert time.time() < deadline, "the first stage did not checkpoint"
        time.sleep(0.2)
    subprocess.run(["scancel", "--signal=USR2", str(rows["smoke_0"]["job_id"])], check=True)
    final = wait_final(root, "held-code", timeout=300)
    assert {r["state"] for r in final.values()} == {"COMPLETED"}, final
    first, second = (final[name] for name in sorted(final))
    assert "resuming from step" in log_of(first)  # it was requeued, and resumed
    assert log_of(first).count("code marker launched") == 2 and "changed" not in log_of(first)
    assert "code marker launched" in log_of(second) and "changed" not in log_of(second)
    code_ids = {json.loads(Path(r["run_dir"], "environment.json").read_text())["code"]["snapshot"]
                for r in final.values()}
    assert len(code_ids) == 1 and code_ids == {json.loads(Path(first["run_dir"], "provenance.json").read_text())[
        "code"]["id"]}


def test_rerun_runs_a_run_again_exactly_in_a_new_run_dir(tmp_path):
    project = make_project(tmp_path / "project")
    root = tmp_path / "runs"
    spec = smoke_spec(tmp_path, "again", steps=2, step_seconds=0, chain=2)
    launch = labspec(project, "launch", spec, "--executor", "local", "--yes")
    _, err = launch.communicate(timeout=120)
    assert launch.returncode == 0, err
    change_marker(project)  # the working tree moves on; the rerun runs what the original ran
    code, _, err = run_cli("launch", "--rerun", "smoke_1", "--root", root, "--executor", "local", "--yes")
    assert code == 0, err
    rows = {r["name"]: r for r in status(root, "again")}
    original, again = rows["smoke_1"], rows["smoke_1-rerun1"]
    assert again["state"] == "COMPLETED" and again["id"] == original["id"] + "r1"
    assert again["run_dir"] == original["run_dir"] + "-rerun1"
    prov = json.loads(Path(again["run_dir"], "provenance.json").read_text())
    assert prov["rerun_of"] == {"id": original["id"], "name": "smoke_1", "run_dir": original["run_dir"]}
    first = json.loads(Path(original["run_dir"], "provenance.json").read_text())
    assert "code marker launched" in log_of(again) and "changed" not in log_of(again)
    assert json.loads(Path(again["run_dir"], "environment.json").read_text())["code"]["snapshot"] == first["code"]["id"]
    assert json.loads(Path(again["run_dir"], "outputs", "metrics.json").read_text())["result"] == \
        json.loads(Path(original["run_dir"], "outputs", "metrics.json").read_text())["result"]  # the same upstream
    config = json.loads(Path(again["run_dir"], "run.json").read_text())
    assert config["run_id"] == again["id"] and config["paths"]["outputs"] == again["run_dir"] + "/outputs"
    code, out, _ = run_cli("diff", original["id"], again["id"], "--root", root)
    assert code == 0 and "no differences" in out

    code, _, err = run_cli("launch", "--rerun", "nonesuch", "--root", root, "--yes")
    assert code != 0 and "no run 'nonesuch'" in err and "Traceback" not in err
    snapshot.remove(Path(first["code"]["dir"]))
    code, _, err = run_cli("launch", "--rerun", "smoke_1", "--root", root, "--executor", "local", "--yes")
    assert code != 0 and "code snapshot" in err and "is gone" in err and "--force" in err
    assert not Path(original["run_dir"] + "-rerun2").exists()  # nothing was written


def test_installed_dependencies_are_linked_not_copied(tmp_path):
    """KaTeX's node_modules (npm, like the interpreter's packages) belongs to the environment:
    the snapshot links it rather than copying thousands of files into every snapshot."""
    katex = "runtime/formula_dpo/katex/node_modules"
    if not (REPO / katex).is_dir():
        pytest.skip("scripts/setup.sh installs KaTeX")
    snap = snapshot.take(REPO)
    assert katex in snap.linked and not any(name.startswith(katex) for name in snap.files)
    where = snapshot.store(snap, str(tmp_path / "runs"))
    assert (where / katex).is_symlink() and (where / katex / "katex").is_dir()
    assert snapshot.size(where) < 5e6
