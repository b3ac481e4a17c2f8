"""Faults produced for real (issue 18): launchers killed by pid with every signal that ends
a session, a second writer in a live run dir, a full disk (a small tmpfs in a private
mount namespace), a launch killed between sbatch and the ledger, a truncated ledger,
run dirs deleted by hand, broken metrics files. Nothing may run twice, be lost, or end
in a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.launch_helpers import metrics, run_cli, status, wait_final

pytestmark = pytest.mark.slow
LABSPEC = [sys.executable, "-m", "launch"]


def slow_spec(tmp_path: Path, name: str = "slow", steps: int = 30, step_seconds: float = 0.2, chain: int = 1,
              root: Path | None = None, launcher: str = "torchrun") -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(textwrap.dedent(f"""\
        name: {name}
        kind: smoke
        output_root: {root or tmp_path / 'runs'}
        resources: {{gpus_per_node: 0, procs_per_node: 1, cpus_per_task: 1, mem: 500M, time: "00:05:00"}}
        launcher: {launcher}
        smoke: {{steps: {steps}, checkpoint_every: 1, chain: {chain}, step_seconds: {step_seconds}}}
        """))
    return spec


def start_launch(spec: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*LABSPEC, "launch", str(spec), "--executor", "local", "--yes", "--allow-dirty", *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def owner_when_running(root: Path, experiment: str, timeout: float = 90) -> tuple[dict[str, Any], int]:
    """Wait until the first run is RUNNING and has taken a step; its row and the pid of its process group."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        code, out, _ = run_cli("status", experiment, "--root", root, "--format", "json")
        rows = json.loads(out)["runs"] if code == 0 else []  # not recorded yet: the launch is starting
        running = [r for r in rows if r["state"] == "RUNNING"]
        if running:
            run_dir = Path(running[0]["run_dir"])
            owner = run_dir / ".labspec" / "owner.node0.shard0.json"
            if owner.exists() and (run_dir / "checkpoints" / "smoke.json").exists():
                return running[0], int(json.loads(owner.read_text())["pid"])
        time.sleep(0.2)
    raise AssertionError(f"{experiment}: no run got going in {timeout}s")


def gone(pid: int, timeout: float = 60) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


# --- H2: a local launcher that dies takes its runs with it, and the next launch resumes ---


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_a_killed_local_launch_stops_its_run_and_the_next_one_resumes_it(tmp_path, sig):
    root = tmp_path / "runs"
    spec = slow_spec(tmp_path, chain=2)
    launch = start_launch(spec)
    _, pid = owner_when_running(root, "slow")
    launch.send_signal(sig)
    launch.wait(timeout=120)
    assert launch.returncode == -sig if sig == signal.SIGKILL else 128 + sig
    assert gone(pid), f"the run (pid {pid}) outlived its launcher"  # torchrun and its worker, via PDEATHSIG
    rows = {r["name"]: r for r in status(root, "slow")}
    assert rows["smoke_0"]["state"] == "INTERRUPTED" and rows["smoke_1"]["state"] == "NEW"
    assert "Traceback" not in (launch.stderr.read() if launch.stderr else "")

    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    rows = {r["name"]: r for r in status(root, "slow")}
    assert rows["smoke_0"]["state"] == rows["smoke_1"]["state"] == "COMPLETED"
    first = metrics(rows["smoke_0"])
    assert first["restarts"] == 1 and first["total"] == first["expected_total"]  # resumed, no step lost or repeated
    # L6: the rerun's elapsed time is its own, not counted from the first attempt
    assert rows["smoke_0"]["elapsed_s"] < time.time() - os.path.getmtime(tmp_path / "slow.yaml")


def test_an_orphan_that_outlives_its_launcher_is_adopted_not_run_twice(tmp_path):
    root = tmp_path / "runs"
    spec = slow_spec(tmp_path, launcher="python")
    launch = start_launch(spec)
    _, pid = owner_when_running(root, "slow")
    os.kill(pid, signal.SIGSTOP)  # a run that cannot react to its launcher's death for now
    try:
        launch.kill()
        launch.wait(timeout=60)
        code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
        assert code == 0 and "left alone: 1 running (pid" in err and "0 to run" in err
        (row,) = status(root, "slow")
        assert row["state"] == "RUNNING"
        # a hand-run copy refuses to write beside it
        done = subprocess.run(["bash", str(Path(row["run_dir"], "launch.sh"))], env={**os.environ,
                              "LABSPEC_LOCK_WAIT": "1"}, capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 3 and "in use by another attempt" in done.stderr
        code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty", "--force")
        assert code == 1 and "never starts a second writer" in err
    finally:
        os.kill(pid, signal.SIGCONT)  # the pending SIGTERM from its parent's death: it saves and stops
    assert gone(pid)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    (row,) = status(root, "slow")
    assert row["state"] == "COMPLETED" and metrics(row)["total"] == metrics(row)["expected_total"]


# --- M8: cancel answers during a local launch and stops its run ---------------------------


def test_cancel_stops_a_running_local_launch_and_its_dependents(tmp_path):
    root = tmp_path / "runs"
    spec = slow_spec(tmp_path, steps=2000, chain=2)
    launch = start_launch(spec)
    _, pid = owner_when_running(root, "slow")
    done = subprocess.run([*LABSPEC, "cancel", "slow", "--root", str(root)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)  # the launch holds no lock while it runs
    assert done.returncode == 0 and "2 run(s) cancelled" in done.stderr
    launch.wait(timeout=120)
    assert gone(pid)
    assert {r["state"] for r in status(root, "slow")} == {"CANCELLED"}
    assert "smoke_1: it is cancelled now" in (launch.stderr.read() if launch.stderr else "")


# --- M2: a full disk during a local run ------------------------------------------------------


def can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                          capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs root and unshare -m to mount a small tmpfs")
def test_a_full_disk_during_a_local_run(tmp_path):
    spec = slow_spec(tmp_path, name="full", steps=40, step_seconds=0.2, root=Path("/mnt/small/runs"),
                     launcher="python")
    labspec = " ".join(shlex.quote(a) for a in LABSPEC)
    script = tmp_path / "full.sh"
    out = tmp_path / "out"
    out.mkdir()
    script.write_text(textwrap.dedent(f"""\
        set -u
        mkdir -p /mnt/small && mount -t tmpfs -o size=2m tmpfs /mnt/small  # the code snapshot (about 1 MB) fits
        cd {REPO}
        {labspec} launch {spec} --executor local --yes --allow-dirty > {out}/first.out 2> {out}/first.err &
        launcher=$!
        for _ in $(seq 1 300); do [ -s /mnt/small/runs/full/*/checkpoints/smoke.json ] && break; sleep 0.1; done
        dd if=/dev/zero of=/mnt/small/fill bs=4k 2>/dev/null
        wait $launcher; echo $? > {out}/first.rc
        ls -a /mnt/small/runs/full/*/checkpoints > {out}/checkpoints.ls
        cat /mnt/small/runs/full/*/logs/node0.err > {out}/run.err
        {labspec} status full --root /mnt/small/runs > {out}/status.out 2> {out}/status.err; echo $? > {out}/status.rc
        rm /mnt/small/fill
        {labspec} launch {spec} --executor local --yes --allow-dirty > {out}/second.out 2> {out}/second.err
        echo $? > {out}/second.rc
        {labspec} status full --root /mnt/small/runs --format json > {out}/final.json
        """))
    subprocess.run(["unshare", "-m", "bash", str(script)], check=True, timeout=600)

    def read(name: str) -> str:
        return (out / name).read_text()

    assert read("first.rc").strip() == "1"
    assert "could not be written" in read("first.err") and "disk holding it is full" in read("first.err")
    assert "smoke_0 ended failed" in read("first.err")  # what happened to the run, said where it can be read
    assert "Traceback" not in read("first.err") + read("run.err")
    assert ".tmp" not in read("checkpoints.ls")  # no half-written checkpoint left behind
    assert read("status.rc").strip() == "0" and "Showing the ledger as it was" in read("status.err")
    assert read("second.rc").strip() == "0", read("second.err")
    (row,) = json.loads(read("final.json"))["runs"]
    assert row["state"] == "COMPLETED"


# --- M4, L7, L8, L10, L12: the ledger and the run dirs disagree ----------------------------


def test_an_absolute_output_root_launched_from_elsewhere_is_the_same_run(tmp_path, monkeypatch):
    spec = slow_spec(tmp_path, steps=2, step_seconds=0)
    assert run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0 and "0 to run" in err and "different run.json" not in err


def test_a_truncated_ledger_adopts_the_completed_runs(tmp_path):
    spec = slow_spec(tmp_path, steps=2, step_seconds=0, chain=2)
    assert run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")[0] == 0
    (tmp_path / "runs" / ".labspec" / "ledger.sqlite").write_bytes(b"")
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0 and "is empty (0 bytes" in err and "0 to run" in err
    assert "2 completed (found in their run dirs" in err
    assert {r["state"] for r in status(tmp_path / "runs", "slow")} == {"COMPLETED"}


def test_a_completed_run_whose_dir_was_deleted_is_reported(tmp_path):
    spec = slow_spec(tmp_path, steps=2, step_seconds=0)
    assert run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")[0] == 0
    (row,) = status(tmp_path / "runs", "slow")
    shutil.rmtree(row["run_dir"])
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0 and "completed, but their run dirs are gone (--force runs them again)" in err
    code, out, _ = run_cli("status", "slow", "--root", tmp_path / "runs")
    assert "COMPLETED (run dir gone)" in out
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty", "--force")
    assert code == 0 and "1 to run" in err
    assert Path(row["run_dir"], "outputs", "metrics.json").exists()


def test_same_names_show_their_ids_and_broken_metrics_files_are_shown_as_missing(tmp_path):
    spec = slow_spec(tmp_path, steps=2, step_seconds=0)
    assert run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")[0] == 0
    assert run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty", "-o", "smoke.value=2")[0] == 0
    rows = status(tmp_path / "runs", "slow")
    assert [r["name"] for r in rows] == ["smoke_0", "smoke_0"]
    Path(rows[0]["run_dir"], "outputs", "metrics.json").write_text("[1, 2, 3]\n")  # L12
    code, out, err = run_cli("status", "slow", "--root", tmp_path / "runs")
    assert code == 0 and rows[0]["id"] in out and rows[1]["id"] in out, err
    code, out, err = run_cli("report", "slow", "--root", tmp_path / "runs")
    assert code == 0 and f"smoke_0 ({rows[0]['id']})" in out and f"smoke_0 ({rows[1]['id']})" in out, err


def test_printed_hints_are_quoted_for_pasting(tmp_path):
    hostile = tmp_path / "runs $(touch PWNED) `touch PWNED`"
    spec = slow_spec(tmp_path, steps=2, step_seconds=0, root=hostile)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    hint = next(line for line in err.splitlines() if line.startswith("watch it: "))
    assert shlex.split(hint.removeprefix("watch it: ")) == ["labspec", "status", "slow", "--root", str(hostile)]


# --- M9: auto never picks the login node when SLURM is installed but silent ----------------


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="SLURM's commands are not installed here")
def test_auto_refuses_when_slurm_is_installed_but_does_not_answer(tmp_path):
    spec = slow_spec(tmp_path, steps=2, step_seconds=0)
    env = {**os.environ, "SLURM_CONF": str(tmp_path / "missing" / "slurm.conf")}
    done = subprocess.run([*LABSPEC, "launch", str(spec), "--yes", "--allow-dirty"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "installed here but does not answer" in done.stderr
    assert "--executor local" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()  # nothing ran here


# --- M3: a launch killed between sbatch and submitit's bookkeeping ---------------------------


@pytest.mark.usefixtures("slurm_cluster")
def test_a_launch_killed_right_after_sbatch_is_recovered_into_a_job_that_runs(tmp_path):
    spec = slow_spec(tmp_path, name="cut", steps=4, step_seconds=0, chain=2)  # smoke_1: never submitted
    real = shutil.which("sbatch")
    assert real is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\n{real} \"$@\"\nrc=$?\nkill -9 $PPID\nexit $rc\n")
    (bin_dir / "sbatch").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run([*LABSPEC, "launch", str(spec), "--executor", "slurm", "--yes", "--allow-dirty",
                           "--hold"], cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == -signal.SIGKILL  # killed between sbatch and the move of its task file
    assert list((tmp_path / "runs" / "cut" / ".submitit").glob("*.pkl"))  # submitit's file, never moved

    code, _, err = run_cli("launch", spec, "--executor", "slurm", "--yes", "--allow-dirty")
    assert code == 0 and "without its task files" in err and "2 to submit" in err, err
    rows = wait_final(tmp_path / "runs", "cut")
    assert rows["smoke_0"]["state"] == rows["smoke_1"]["state"] == "COMPLETED"
    assert metrics(rows["smoke_1"])["result"] == 2 * metrics(rows["smoke_0"])["result"]  # in order, once each
    assert not list((tmp_path / "runs" / "cut" / ".submitit").glob("*.pkl"))


def test_the_ledger_is_not_left_open_by_a_failed_transaction(tmp_path):
    """A failing body rolls back and the error that caused it is the one raised."""
    from launch.ledger import Ledger

    with Ledger(tmp_path) as ledger:
        with pytest.raises(ZeroDivisionError), ledger.transaction() as db:
            db.execute("INSERT INTO meta VALUES ('x', 'y')")
            raise ZeroDivisionError
        assert not ledger.db.in_transaction
        assert ledger.db.execute("SELECT count(*) FROM meta WHERE key='x'").fetchone()[0] == 0
    assert sqlite3.connect(tmp_path / ".labspec" / "ledger.sqlite").execute("SELECT 1").fetchone() == (1,)


# --- siblings found by a second, hostile review --------------------------------------------


def rank_pid(run_dir: str, timeout: float = 60) -> int:
    """The pid of the run's rank 0 (its own lock in the run dir), once it is up."""
    owner = Path(run_dir, ".labspec", "owner.node0.shard0.rank0.json")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if owner.exists():
            return int(json.loads(owner.read_text())["pid"])
        time.sleep(0.2)
    raise AssertionError(f"rank 0 of {run_dir} never started")


def test_a_killed_launch_stops_the_run_under_deepspeeds_launcher_too(tmp_path):
    """DeepSpeed's launcher passes no signal on: the ranks watch the run's starter themselves."""
    root = tmp_path / "runs"
    spec = slow_spec(tmp_path, launcher="deepspeed")
    launch = start_launch(spec)
    row, _ = owner_when_running(root, "slow")
    worker = rank_pid(row["run_dir"])
    launch.kill()
    launch.wait(timeout=60)
    assert gone(worker), "a DeepSpeed rank outlived the launch that started it"
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    (row,) = status(root, "slow")
    m = metrics(row)
    assert row["state"] == "COMPLETED" and m["restarts"] == 1 and m["total"] == m["expected_total"]


def test_a_killed_torchrun_agent_takes_its_rank_with_it_and_a_retry_waits_for_it(tmp_path):
    """The OOM killer's way: SIGKILL to torchrun alone. Its rank stops (it saves first); a
    retry never writes beside a rank that is still finishing."""
    root = tmp_path / "runs"
    spec = slow_spec(tmp_path)
    launch = start_launch(spec)
    row, agent = owner_when_running(root, "slow")
    worker = rank_pid(row["run_dir"])
    os.kill(agent, signal.SIGKILL)
    launch.wait(timeout=120)
    assert gone(worker)
    (row,) = status(root, "slow")
    assert row["state"] == "FAILED"
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty", "--retry-failed")
    assert code == 0, err
    (row,) = status(root, "slow")
    m = metrics(row)
    assert row["state"] == "COMPLETED" and m["restarts"] == 1 and m["total"] == m["expected_total"]


def test_force_never_touches_a_run_that_is_still_alive_and_cancel_kills_what_will_not_stop(tmp_path):
    root = tmp_path / "runs"
    spec = slow_spec(tmp_path, launcher="python")
    launch = start_launch(spec)
    row, _ = owner_when_running(root, "slow")
    worker = rank_pid(row["run_dir"])
    os.kill(worker, signal.SIGSTOP)  # a run that cannot stop for now
    try:
        before = sorted(p.name for p in Path(row["run_dir"]).iterdir())
        code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty", "--force")
        assert code == 1 and "never starts a second writer" in err and "labspec cancel" in err and "--root" in err
        assert sorted(p.name for p in Path(row["run_dir"]).iterdir()) == before  # nothing set aside
        done = subprocess.run([*LABSPEC, "cancel", "slow", "--root", str(root), "--grace", "2"], cwd=REPO,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0 and "killed what was left of it after 2s" in done.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGCONT)
    assert gone(worker)
    launch.wait(timeout=120)
    (row,) = status(root, "slow")
    assert row["state"] == "CANCELLED"


def test_a_launch_waiting_for_its_answer_holds_no_lock(tmp_path):
    """`launch` without --yes asks at a terminal; meanwhile other commands of the same root
    (cancel takes the ledger's lock) go on."""
    import pty

    root = tmp_path / "runs"
    first = slow_spec(tmp_path, steps=2, step_seconds=0)
    assert run_cli("launch", first, "--executor", "local", "--yes", "--allow-dirty")[0] == 0
    other = slow_spec(tmp_path, name="other", steps=2, step_seconds=0)
    main, replica = pty.openpty()
    asking = subprocess.Popen([*LABSPEC, "launch", str(other), "--executor", "local", "--allow-dirty"], cwd=REPO,
                              stdin=replica, stdout=replica, stderr=replica)
    try:
        text = b""
        deadline = time.time() + 60
        while b"[y/N]" not in text and time.time() < deadline:
            text += os.read(main, 4096)
        assert b"[y/N]" in text
        done = subprocess.run([*LABSPEC, "cancel", "slow", "--root", str(root)], cwd=REPO, capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0
        os.write(main, b"n\n")
        assert asking.wait(timeout=60) == 1
    finally:
        asking.kill()
        os.close(main)
        os.close(replica)


def test_follow_ends_for_an_interrupted_run(tmp_path):
    root = tmp_path / "runs"
    spec = slow_spec(tmp_path)
    launch = start_launch(spec)
    row, _ = owner_when_running(root, "slow")
    worker = rank_pid(row["run_dir"])
    launch.kill()
    launch.wait(timeout=60)
    assert gone(worker)  # it saved its checkpoint and stopped
    deadline = time.time() + 60
    while status(root, "slow")[0]["state"] != "INTERRUPTED":  # torchrun, too, has let go of the run dir
        assert time.time() < deadline
        time.sleep(0.5)
    done = subprocess.run([*LABSPEC, "logs", "smoke_0", "--root", str(root), "-f"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "===" in done.stdout


def test_odd_outputs_never_break_status_report_or_tensorboard(tmp_path):
    root = tmp_path / "runs, with a comma"
    spec = slow_spec(tmp_path, steps=2, step_seconds=0, root=root)
    assert run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")[0] == 0
    assert run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty", "-o", "smoke.value=2")[0] == 0
    rows = status(root, "slow")
    Path(rows[0]["run_dir"], "outputs", "metrics.json").write_text(json.dumps({"huge": 10**400, "x" * 300: 1.0}))
    code, _, err = run_cli("status", "slow", "--root", root)
    assert code == 0, err
    code, _, err = run_cli("report", "slow", "--root", root)
    assert code == 0 and "Traceback" not in err, err
    from launch.ledger import Ledger
    from launch.tb_farm import farm

    with Ledger(root, create=False) as ledger:
        logdir = farm(ledger.runs("slow"), tmp_path / "farm")
    names = sorted(p.name for p in logdir.iterdir())
    assert names == sorted([f"smoke_0-{r['id']}" for r in rows] + ["hparams", "timeline"])
    assert all((logdir / f"smoke_0-{r['id']}").resolve() == Path(r["run_dir"], "tb") for r in rows)


@pytest.mark.usefixtures("slurm_cluster")
def test_cancel_that_cannot_reach_slurm_changes_nothing(tmp_path):
    spec = slow_spec(tmp_path, name="unreached", steps=2, step_seconds=0)
    code, _, err = run_cli("launch", spec, "--executor", "slurm", "--yes", "--allow-dirty", "--hold")
    assert code == 0, err
    env = {**os.environ, "SLURM_CONF": str(tmp_path / "missing.conf")}
    done = subprocess.run([*LABSPEC, "cancel", "unreached", "--root", str(tmp_path / "runs")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1 and "could not cancel job" in done.stderr and "Traceback" not in done.stderr
    (row,) = status(tmp_path / "runs", "unreached")
    assert row["state"] == "PENDING"
    assert run_cli("cancel", "unreached", "--root", tmp_path / "runs")[0] == 0
    (row,) = status(tmp_path / "runs", "unreached")
    assert row["state"] == "CANCELLED"
