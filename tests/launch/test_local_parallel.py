"""The local executor packs runs onto this machine: GPUs as disjoint device sets, CPUs and
memory counted; dependencies still hold; a killed launch is completed by the next one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

from launch.executors.local import ephemeral_ports, free_port
from launch.executors.machine import Machine, Need, Pool, too_big
from tests.conftest import REPO
from tests.launch_helpers import metrics, run_cli, status


def test_gpus_go_out_as_disjoint_sets_and_a_run_waits_for_enough():
    pool = Pool(Machine(cpus=64, mem_mb=None, gpus=("0", "1", "2", "3")))
    two = Need(cpus=1, mem_mb=0, gpus=2, procs=1)
    a, b = pool.take(two), pool.take(two)
    assert set(a).isdisjoint(b) and set(a) | set(b) == {"0", "1", "2", "3"}
    assert not pool.fits(Need(cpus=1, mem_mb=0, gpus=1, procs=1))  # waits: none free
    pool.give(two, a)
    assert pool.fits(two) and not pool.fits(Need(cpus=1, mem_mb=0, gpus=3, procs=1))
    assert pool.take(two) == a


def test_a_runs_port_is_free_outside_the_kernels_ephemeral_range_and_not_taken():
    """The child binds its rendezvous port a moment after the launcher picked it; a port from
    bind(0) is the kernel's next pick for every other process too (EADDRINUSE was seen)."""
    low, _ = ephemeral_ports()
    ports = [free_port() for _ in range(50)]
    assert all(p < low for p in ports) and len(set(ports)) > 40  # random, not the kernel's next pick
    taken = set(ports)
    assert all(free_port(taken) not in taken for _ in range(20))
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))  # it was free


def test_cpus_and_memory_are_counted_and_too_big_is_said_in_figures():
    machine = Machine(cpus=8, mem_mb=16_000, gpus=())
    pool = Pool(machine)
    need = Need.of({"nodes": 1, "procs_per_node": 2, "cpus_per_task": 4, "mem_mb": 6_000, "gpus_per_node": 0})
    assert need == Need(cpus=4, mem_mb=6_000, gpus=0, procs=2) and need.threads() == 2
    pool.take(need)
    pool.take(need)
    assert not pool.fits(Need(cpus=1, mem_mb=0, gpus=0, procs=1))  # all 8 CPUs held
    assert Need.of({"procs_per_node": 4, "cpus_per_task": 1}).cpus == 4  # at least a CPU per process
    big = Need.of({"nodes": 2, "procs_per_node": 4, "cpus_per_task": 8, "mem_mb": 12_000, "gpus_per_node": 1})
    assert too_big(big, machine) == ["2 GPUs, this machine has 0", "16 CPUs, this machine has 8",
                                     "23.4 GiB of memory, this machine has 15.6 GiB"]


def sweep_spec(tmp_path: Path, name: str, values: list[int], gpus: int = 0, step_seconds: float = 0.5,
               extra: str = "") -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(f"""name: {name}
kind: smoke
output_root: {tmp_path / 'runs'}
resources: {{gpus_per_node: {gpus}, procs_per_node: 1, cpus_per_task: 1, mem: 1G, time: "00:05:00"}}
launcher: python
smoke: {{steps: 4, checkpoint_every: 2, chain: 1, step_seconds: {step_seconds}{extra}}}
sweep: {{grid: {{smoke.value: {values}}}}}
""")
    return spec


def intervals(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Each run's time RUNNING, from the ledger's state history."""
    out = {}
    for row in rows:
        start = min(e["at"] for e in row["events"] if e["state"] == "RUNNING")
        end = max(e["at"] for e in row["events"] if e["state"] == "COMPLETED")
        out[row["name"]] = (start, end)
    return out


def devices(row: dict[str, Any]) -> set[str]:
    env = json.loads(Path(row["run_dir"], "environment.json").read_text())
    return set(env["visible_devices"].split(","))


def test_concurrent_runs_never_share_a_gpu_and_wait_for_free_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")  # the devices this machine lends: the inventory
    code, _, err = run_cli("launch", sweep_spec(tmp_path, "one", [1, 2, 3, 4], gpus=1), "--executor", "local",
                           "--yes", "--allow-dirty")
    assert code == 0, err
    rows = status(tmp_path / "runs", "one")
    spans = intervals(rows)
    overlapping = [(a, b) for a, b in combinations(rows, 2)
                   if spans[a["name"]][0] < spans[b["name"]][1] and spans[b["name"]][0] < spans[a["name"]][1]]
    assert overlapping, "no two runs ran at once on a machine with room for two"
    for a, b in overlapping:
        assert devices(a).isdisjoint(devices(b)), (a["name"], b["name"])
    assert all(len(devices(r)) == 1 and devices(r) <= {"0", "1", "2"} for r in rows)

    # two GPUs each, three lent: one run at a time, whatever the CPUs allow
    code, _, err = run_cli("launch", sweep_spec(tmp_path, "two", [1, 2, 3], gpus=2), "--executor", "local",
                           "--yes", "--allow-dirty")
    assert code == 0, err
    rows = status(tmp_path / "runs", "two")
    spans = intervals(rows)
    ordered = sorted(spans.values())
    assert all(end <= start for (_, end), (start, _) in pairwise(ordered))
    assert all(len(devices(r)) == 2 for r in rows)


def test_a_run_larger_than_the_machine_is_refused_before_anything_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    code, _, err = run_cli("launch", sweep_spec(tmp_path, "big", [1, 2], gpus=4), "--executor", "local", "--yes",
                           "--allow-dirty")
    assert code == 1 and "can never start on this machine" in err and "4 GPUs, this machine has 2" in err, err
    assert "Traceback" not in err and not (tmp_path / "runs" / "big").exists()


def test_jobs_caps_concurrency_and_dependencies_still_hold(tmp_path):
    code, _, err = run_cli("launch", sweep_spec(tmp_path, "capped", [1, 2, 3], step_seconds=0.3), "--executor",
                           "local", "--yes", "--allow-dirty", "--jobs", "1")
    assert code == 0, err
    ordered = sorted(intervals(status(tmp_path / "runs", "capped")).values())
    assert all(end <= start for (_, end), (start, _) in pairwise(ordered))

    # a failing run stops what depends on it, and only that
    spec = sweep_spec(tmp_path, "chained", [1], step_seconds=0).read_text()
    spec = spec.replace("chain: 1", "chain: 2").replace("smoke.value: [1]", "smoke.fail_stage: [0, 1]")
    (tmp_path / "chained.yaml").write_text(spec)
    code, _, err = run_cli("launch", tmp_path / "chained.yaml", "--executor", "local", "--yes", "--allow-dirty")
    assert code == 1
    states = {r["name"]: r["state"] for r in status(tmp_path / "runs", "chained")}
    assert states == {"smoke_0__fail_stage=0": "FAILED", "smoke_1__fail_stage=0": "UPSTREAM_FAILED",
                      "smoke_0__fail_stage=1": "COMPLETED", "smoke_1__fail_stage=1": "FAILED"}, states


def test_a_killed_parallel_launch_is_completed_once_by_the_next(tmp_path):
    spec = sweep_spec(tmp_path, "killed", [1, 2, 3], step_seconds=1.0)
    launch = subprocess.Popen([sys.executable, "-m", "launch", "launch", str(spec), "--executor", "local", "--yes",
                               "--allow-dirty"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # two runs at once on two CPUs, both past their first checkpoint
        code, out, _ = run_cli("status", "killed", "--root", tmp_path / "runs", "--format", "json")
        rows = [r for r in json.loads(out)["runs"] if r["state"] == "RUNNING"] if code == 0 else []
        if len(rows) == 2 and all(Path(r["run_dir"], "checkpoints", "smoke.json").exists() for r in rows):
            break
        time.sleep(0.3)
    else:
        raise AssertionError("two runs never ran at once")
    os.kill(launch.pid, signal.SIGKILL)
    launch.wait(timeout=60)
    from launch import rundir

    deadline = time.time() + 120  # its runs got SIGTERM with it: they save a checkpoint and stop
    while any(rundir.live_owners(r["run_dir"]) for r in rows) and time.time() < deadline:
        time.sleep(0.3)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    rows = status(tmp_path / "runs", "killed")
    assert {r["state"] for r in rows} == {"COMPLETED"}
    for row in rows:  # each run's steps counted once: the resumed ones from their checkpoint
        m = metrics(row)
        assert m["total"] == m["expected_total"] and m["restarts"] <= 1
        starts = [e for e in row["events"] if e["state"] == "RUNNING"]
        assert len(starts) == (2 if m["restarts"] else 1), row["events"]
