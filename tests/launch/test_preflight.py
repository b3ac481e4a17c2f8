"""Preflight: a launch's runs checked against the SLURM cluster before anything is submitted
(launch/executors/slurm/preflight.py, the sinfo reading in launch/executors/slurm/cluster.py).

The fast tests read made-up sinfo output (gres strings, time limits, the default marker, node
states) and check requests against it. The slow ones run `labspec launch` and `labspec compile
--check-cluster` on the project's test cluster (tests/cluster/slurm.conf.in): debug (the
default: n1, n2 with 4 CPUs, 8000 MB, no GPUs), short (MaxTime 30 minutes), closed (down) and
gpus (one node with two fake GPUs, whose slurmd never starts), with `sinfo` and `sbatch`
wrapped to count their calls.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launch.executors.slurm.cluster import (
    Association,
    Cluster,
    ClusterUnreadable,
    Node,
    parse_gres,
    parse_sinfo,
    read_cluster,
    slurm_seconds,
)
from launch.executors.slurm.preflight import (
    ClusterMismatch,
    Finding,
    Preflight,
    Request,
    check,
    check_accounts,
)
from launch.ledger import Ledger
from tests.launch_helpers import run_cli

SINFO = """\
debug*|n1|4|8000|(null)|up|infinite|idle|(null)|1-infinite
debug*|n2|4|8000|(null)|up|infinite|mixed|(null)|1-infinite
gpu|g1|64|512000|gpu:a100:4(S:0-1)|up|1-00:00:00|idle|a100,ib|1-2
gpu|g2|64|512000|gpu:a100:4(S:0-1)|up|1-00:00:00|drained|a100,ib|1-2
gpu|g3|32|256000|gpu:v100:2(S:0),mps:200|up|1-00:00:00|down*|v100|1-2
long|n1|4|8000|(null)|up|UNLIMITED|idle|(null)|1-infinite
quick|n2|4|8000|gpu:2|up|30:00|idle~|(null)|1-infinite
off|n1|4|8000|(null)|inact|infinite|idle|(null)|1-infinite
sinfo: a line this check does not read
"""


def cluster() -> Cluster:
    return parse_sinfo(SINFO)


def req(**kw: Any) -> Request:
    base: dict[str, Any] = {"nodes": 1, "tasks_per_node": 1, "cpus_per_task": 1, "mem_mb": None, "gpus": 0,
                            "gpu_type": None, "time_min": 60, "partition": "debug"}
    return Request(**{**base, **kw})


# --- reading sinfo ----------------------------------------------------------------------


def test_sinfo_lines_become_partitions_with_their_nodes():
    c = cluster()
    assert list(c.partitions) == ["debug", "gpu", "long", "quick", "off"]  # the unreadable line is left out
    assert c.default is c.partitions["debug"] and not c.partitions["gpu"].default
    debug, gpu = c.partitions["debug"], c.partitions["gpu"]
    assert [n.name for n in debug.nodes] == ["n1", "n2"] and debug.max_time_s is None and debug.max_nodes is None
    assert gpu.max_time_s == 86400 and gpu.max_nodes == 2 and gpu.up
    g1, _, g3 = gpu.nodes
    assert (g1.cpus, g1.mem_mb, g1.gpus, g1.features) == (64, 512000, {"a100": 4}, frozenset({"a100", "ib"}))
    assert g3.gpus == {"v100": 2} and g3.state == "down*"
    assert c.partitions["long"].max_time_s is None and c.partitions["quick"].max_time_s == 1800
    assert c.partitions["quick"].nodes[0].gpus == {"": 2}
    assert c.partitions["off"].availability == "inact" and not c.partitions["off"].up
    assert c.names() == "debug (default), gpu, long, off, quick"
    assert parse_sinfo("").partitions == {} and parse_sinfo("nonsense\n|||\n").partitions == {}


@pytest.mark.parametrize(("text", "seconds"), [
    ("infinite", None), ("INFINITE", None), ("UNLIMITED", None), ("30:00", 1800), ("5", 300), ("01:00:00", 3600),
    ("1-00:00:00", 86400), ("2-12", 216000), ("1-02:03", 93780), ("0:30", 30),
])
def test_slurm_time_limits(text, seconds):
    assert slurm_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "n/a", "1-", "a:b", "1:2:3:4", "²"])
def test_time_limits_sinfo_never_prints_are_refused(text):
    with pytest.raises(ValueError):
        slurm_seconds(text)


@pytest.mark.parametrize(("gres", "gpus"), [
    ("(null)", {}), ("gpu:2", {"": 2}), ("gpu:a100:4(S:0-1)", {"a100": 4}), ("gpu:a100:4(S:0,1)", {"a100": 4}),
    ("gpu:a100:2(S:0),gpu:v100:1(S:1)", {"a100": 2, "v100": 1}), ("gpu:v100:2,mps:200", {"v100": 2}),
    ("mps:400", {}), ("gpu", {"": 1}),
])
def test_gres_strings_give_gpus_by_type(gres, gpus):
    assert parse_gres(gres) == gpus


@pytest.mark.parametrize(("state", "usable"), [
    ("idle", True), ("mixed", True), ("allocated", True), ("idle~", True), ("completing", True),
    ("down*", False), ("down", False), ("drained", False), ("draining", False), ("idle*", False),
    ("mixed+drain", False), ("reserved", False), ("maint", False),
])
def test_node_states_that_run_jobs_now(state, usable):
    assert Node("x", 1, 1, {}, frozenset(), state).usable is usable


def test_sinfo_that_fails_or_says_nothing_usable_is_an_error_not_an_empty_cluster(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.delenv("SLURM_CONF", raising=False)

    def answer(code: int, out: str) -> Callable[..., subprocess.CompletedProcess[str]]:
        return lambda cmd, **kw: subprocess.CompletedProcess(cmd, code, out, "sinfo: error: no controller")

    with pytest.raises(ClusterUnreadable, match="no controller"):
        read_cluster(answer(1, ""))
    with pytest.raises(ClusterUnreadable, match="no partition this check can read"):
        read_cluster(answer(0, "PARTITION AVAIL\n"))
    assert list(read_cluster(answer(0, SINFO)).partitions) == ["debug", "gpu", "long", "quick", "off"]


# --- one request against a cluster ------------------------------------------------------


def fields(findings: list[Finding]) -> list[str]:
    return [f.field for f in findings]


def test_a_request_that_fits_has_no_findings_and_no_warning():
    v = check(cluster(), req(nodes=2, cpus_per_task=4, mem_mb=8000))
    assert v.partition is not None and v.partition.name == "debug"
    assert v.findings == [] and v.warnings == []
    assert check(cluster(), req(partition=None)).partition.name == "debug"  # the default one


def test_cpus_per_node_are_tasks_times_cpus_per_task():
    (f,) = check(cluster(), req(tasks_per_node=2, cpus_per_task=4)).findings
    assert f == Finding("cpus_per_task", "asks 8 CPUs per node (2 tasks x 4)", "partition debug's nodes have at most 4")
    assert Request.of({"nodes": 2, "ntasks_per_node": 2, "cpus_per_task": 3, "time": 5}).cpus == 6


def test_each_field_says_what_is_asked_and_what_the_partition_offers():
    v = check(cluster(), req(partition=None, cpus_per_task=8, mem_mb=16384, gpus=1, time_min=10))
    assert [(f.field, f.asks, f.offers) for f in v.findings] == [
        ("cpus_per_task", "asks 8 CPUs per node", "the default partition debug's nodes have at most 4"),
        ("mem", "asks 16384 MB of memory per node", "the default partition debug's nodes have at most 8000 MB"),
        ("gpus_per_node", "asks 1 GPU per node", "the default partition debug's nodes have no GPUs"),
    ]


def test_gpus_by_type_and_untyped():
    c = cluster()
    assert check(c, req(partition="gpu", gpus=4, gpu_type="a100")).findings == []
    (f,) = check(c, req(partition="gpu", gpus=4, gpu_type="v100")).findings
    assert f.offers == "partition gpu's nodes have at most 2 of type v100 (their GPU types: a100, v100)"
    (f,) = check(c, req(partition="gpu", gpus=4, gpu_type="h100")).findings
    assert "at most 0 of type h100" in f.offers
    assert check(c, req(partition="quick", gpus=2, time_min=30)).findings == []  # gpu:2 counts for any request
    assert fields(check(c, req(partition="quick", gpus=2, gpu_type="a100", time_min=30)).findings) == ["gpus_per_node"]
    assert Request.of({"nodes": 1, "gpus_per_node": "a100:2", "time": 5}).gpu_type == "a100"


def test_nodes_that_are_down_or_drained_count_but_a_request_they_would_serve_waits():
    v = check(cluster(), req(partition="gpu", nodes=2, gpus=4, gpu_type="a100"))
    assert v.findings == []  # g1 and g2 have the hardware
    (w,) = v.warnings
    assert "1 of its nodes that fit" in w and "2 needed" in w and "g2 drained" in w and "will wait" in w
    (w,) = check(cluster(), req(partition="gpu", gpus=2, gpu_type="v100")).warnings
    assert "g3 down*" in w


def test_some_nodes_have_it_but_not_enough_of_them():
    assert check(cluster(), req(partition="gpu", nodes=2, cpus_per_task=64)).findings == []  # g1 and g2
    (f,) = check(cluster(), req(partition="gpu", nodes=2, cpus_per_task=64, gpus=2, gpu_type="v100")).findings
    assert f == Finding("gpus_per_node", "asks 2 v100 GPUs per node on 2 nodes",
                        "only 1 of partition gpu's nodes have that (the others have at most 0 of type v100 "
                        "(their GPU types: a100))")


def test_needs_met_by_different_nodes_do_not_add_up_to_a_fit():
    (f,) = check(cluster(), req(partition="gpu", cpus_per_task=64, gpus=2, gpu_type="v100")).findings
    assert f == Finding("", "asks 1 node x 64 CPUs, default memory, 2 v100 GPUs, 01:00:00",
                        "only 0 of partition gpu's nodes have all of it at once")


def test_time_and_node_limits_of_the_partition():
    (f,) = check(cluster(), req(partition="gpu", time_min=25 * 60)).findings
    assert (f.field, f.asks, f.offers) == ("time", "asks 1-01:00:00", "partition gpu's MaxTime is 1-00:00:00")
    (f,) = check(cluster(), req(partition="quick", time_min=31)).findings
    assert f.offers == "partition quick's MaxTime is 00:30:00"
    assert check(cluster(), req(partition="long", time_min=365 * 1440)).findings == []  # UNLIMITED
    (f,) = check(cluster(), req(partition="gpu", nodes=3)).findings
    assert (f.field, f.offers) == ("nodes", "partition gpu's MaxNodes (per job) is 2")
    (f,) = check(cluster(), req(nodes=3)).findings
    assert (f.field, f.offers) == ("nodes", "partition debug has 2")


def test_a_missing_inactive_or_absent_default_partition():
    v = check(cluster(), req(partition="nope"))
    assert v.partition is None and [(f.field, f.asks) for f in v.findings] == [("partition", "asks partition nope")]
    assert "no such partition (it has: debug (default), gpu" in v.findings[0].offers
    (f,) = check(cluster(), req(partition="off")).findings
    assert f.field == "partition" and "inactive" in f.offers
    nodefault = parse_sinfo(SINFO.replace("debug*", "debug"))
    (f,) = check(nodefault, req(partition=None)).findings
    assert (f.field, f.asks) == ("partition", "names no partition") and "no default partition" in f.offers


def test_constraints_are_matched_against_node_features():
    c = cluster()
    assert check(c, req(partition="gpu", constraint="ib")).findings == []
    assert check(c, req(partition="gpu", constraint="a100&ib")).findings == []
    assert check(c, req(partition="gpu", constraint="v100|h100")).findings == []
    (f,) = check(c, req(partition="gpu", constraint="nvlink")).findings
    assert f.field == "constraint" and f.offers == "partition gpu's nodes have features a100, ib, v100"
    assert check(c, req(partition="gpu", constraint="[a100*2&nvlink]")).findings == []  # left to sbatch


def test_accounts_and_qos_against_the_users_associations():
    part = cluster().partitions["debug"]
    assocs = [Association("lab", "", frozenset({"normal", "high"})), Association("other", "gpu", frozenset({"low"}))]
    assert check_accounts(assocs, req(account="lab", qos="high"), part) == []
    (f,) = check_accounts(assocs, req(account="other"), part)  # only on partition gpu
    assert f == Finding("account", "asks account other", "you may charge only lab on partition debug (sacctmgr)")
    (f,) = check_accounts(assocs, req(qos="urgent"), part)
    assert f.field == "qos" and f.offers == "your accounts allow(s) only high, normal (sacctmgr)"


# --- a spec's runs: lines, grouping, one reading ----------------------------------------

SPEC = """\
name: pf
kind: smoke
output_root: {root}
resources:
  gpus_per_node: 0
  procs_per_node: 1
  cpus_per_task: 1
  mem: 500M
  time: "00:05:00"
launcher: torchrun
smoke: {{steps: 4, checkpoint_every: 2, chain: 2}}
"""


def compiled(path: Path, *overrides: str) -> tuple[Any, list[Any]]:
    from compiler import compile
    from specs.loader import load_spec

    loaded = load_spec(path, overrides)
    return loaded, list(compile(loaded).runs)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


class FakeCluster:
    """read_cluster for a Preflight: the made-up sinfo, counting the reads."""

    def __init__(self, text: str = SINFO, fail: str | None = None) -> None:
        self.text, self.fail, self.reads = text, fail, 0

    def __call__(self) -> Cluster:
        self.reads += 1
        if self.fail:
            raise ClusterUnreadable(self.fail)
        return parse_sinfo(self.text)


def preflight_for(fake: FakeCluster, assocs: Callable[[str], list[Association]] | None = None) -> Any:
    from launch.executors.slurm import SlurmExecutor

    return SlurmExecutor(preflight=Preflight(read=fake, **({"read_assocs": assocs} if assocs else {})))


def test_problems_are_cited_at_the_line_that_sets_the_field_and_grouped_by_stage(tmp_path):
    spec = tmp_path / "pf.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "runs") + textwrap.dedent("""\
        stages:
          smoke:
            resources:
              mem: 16G
        sweep:
          grid:
            resources.nodes: [1, 3]
            smoke.steps: [4, 6]
        """))
    loaded, runs = compiled(spec)
    fake, said = FakeCluster(), []
    with pytest.raises(ClusterMismatch) as exc:
        preflight_for(fake).check_fit(runs, loaded, said.append)
    lines = str(exc.value).splitlines()
    assert lines[0] == "the cluster cannot run what was asked (2 problems); nothing was submitted:"
    mem, nodes = line_of(spec, "mem: 16G"), line_of(spec, "resources.nodes:")
    assert lines[1] == (f"  {spec}:{mem}: stages.smoke.resources.mem: asks 16384 MB of memory per node; the default "
                        "partition debug's nodes have at most 8000 MB (8 runs of stage smoke)")
    assert lines[2] == (f"  {spec}:{nodes}: resources.nodes: asks 3 nodes; the default partition debug has 2 "
                        "(4 runs of stage smoke)")  # at the sweep line, for half the runs
    assert fake.reads == 1 and said == []


def test_a_default_is_cited_at_the_resources_line_and_said_to_be_one(tmp_path):
    spec = tmp_path / "pf.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "runs").replace("  cpus_per_task: 1\n", ""))
    loaded, runs = compiled(spec)
    with pytest.raises(ClusterMismatch) as exc:
        preflight_for(FakeCluster()).check_fit(runs, loaded, print)
    assert (f"{spec}:{line_of(spec, 'resources:')}: resources.cpus_per_task: asks 8 CPUs per node (not set: the "
            "default); the default partition debug's nodes have at most 4 (2 runs of stage smoke)") in str(exc.value)


def test_an_override_is_cited_as_the_override_and_a_missing_partition_is_named(tmp_path):
    spec = tmp_path / "pf.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "runs"))
    loaded, runs = compiled(spec, "resources.partition=gpus")
    with pytest.raises(ClusterMismatch) as exc:
        preflight_for(FakeCluster()).check_fit(runs, loaded, print)
    text = str(exc.value)
    assert ("override -o resources.partition=gpus: resources.partition: asks partition gpus; this cluster has no "
            "such partition (it has: debug (default), gpu, long, off, quick) (2 runs of stage smoke)") in text
    assert "partition(s) gpus do not exist on this cluster" in text and "--no-preflight" in text


def test_one_reading_serves_every_check_of_a_launch_and_fits_are_said_once(tmp_path):
    spec = tmp_path / "pf.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "runs"))
    loaded, runs = compiled(spec, "sweep.grid.smoke.steps=[2,4,6]")
    fake, said = FakeCluster(), []
    executor = preflight_for(fake)
    for _ in range(3):
        fits = executor.check_fit(runs, loaded, said.append)
    assert fake.reads == 1
    assert fits == said == ["stage smoke: 6 runs fit the default partition debug (each 1 node x 1 CPU, 500 MB, "
                            "0 GPUs, 00:05:00)"]


def test_an_unreadable_cluster_stops_the_launch_and_says_to_pass_no_preflight(tmp_path):
    spec = tmp_path / "pf.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "runs"))
    loaded, runs = compiled(spec)
    with pytest.raises(ClusterUnreadable) as exc:
        preflight_for(FakeCluster(fail="sinfo: error: access denied")).check_fit(runs, loaded, print)
    assert "access denied" in str(exc.value) and "Nothing was submitted" in str(exc.value)
    assert "pass --no-preflight" in str(exc.value)
    from launch.executors.slurm import SlurmExecutor

    assert SlurmExecutor(preflight=None).check_fit(runs, loaded, print) == []  # --no-preflight: no reading


def test_an_account_is_checked_and_sacctmgr_failing_is_only_a_warning(tmp_path):
    spec = tmp_path / "pf.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "runs").replace("  mem: 500M\n", "  mem: 500M\n  account: nope\n"))
    loaded, runs = compiled(spec)
    with pytest.raises(ClusterMismatch, match=rf"{spec}:{line_of(spec, 'account:')}: resources.account: asks "
                                              "account nope; you may charge only lab"):
        preflight_for(FakeCluster(), lambda user: [Association("lab", "", frozenset())]).check_fit(runs, loaded, print)

    def no_sacctmgr(user: str) -> list[Association]:
        raise ClusterUnreadable("sacctmgr is not installed here")

    said: list[str] = []
    preflight_for(FakeCluster(), no_sacctmgr).check_fit(runs, loaded, said.append)
    assert said[0] == "warning: account/QOS not checked (sacctmgr is not installed here); sbatch will judge them"
    assert said[1].startswith("stage smoke: 2 runs fit")


# --- on the project's SLURM test cluster ------------------------------------------------

NEW_PARTITIONS = {"short", "closed", "gpus"}


@pytest.fixture(scope="module")
def preflight_cluster(slurm_cluster: str) -> str:
    """The test cluster, with the partitions these tests need (a cluster started from an
    older slurm.conf.in lacks them until it is restarted)."""
    out = subprocess.run(["sinfo", "--all", "-h", "-o", "%P"], capture_output=True, text=True, check=False)
    have = {p.rstrip("*") for p in out.stdout.split()}
    if not have >= NEW_PARTITIONS:
        pytest.fail(f"the SLURM test cluster lacks partitions {sorted(NEW_PARTITIONS - have)} of "
                    "tests/cluster/slurm.conf.in: restart it (tests/cluster/down.sh, then tests/cluster/up.sh)")
    return slurm_cluster


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """sinfo and sbatch wrapped, earlier on PATH, to log each call; calls("sinfo") -> its calls."""
    log, wrappers = tmp_path / "calls.log", tmp_path / "bin"
    wrappers.mkdir()
    for name in ("sinfo", "sbatch"):
        real = shutil.which(name)
        assert real, f"{name} is not installed"
        script = wrappers / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {shlex.quote(str(log))}\nexec {shlex.quote(real)} "$@"\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
    return lambda name: [c for c in (log.read_text().splitlines() if log.exists() else []) if c.split()[0] == name]


def smoke_spec(tmp_path: Path, name: str, chain: int = 1, **resources: object) -> Path:
    """A smoke spec, every resources field on a line of its own."""
    fields = {"gpus_per_node": 0, "procs_per_node": 1, "cpus_per_task": 1, "mem": "500M", "time": '"00:05:00"',
              **resources}
    body = "".join(f"  {k}: {v}\n" for k, v in fields.items())
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nkind: smoke\noutput_root: {tmp_path / 'runs'}\nresources:\n{body}"
                    f"launcher: torchrun\nsmoke: {{steps: 4, checkpoint_every: 2, chain: {chain}}}\n")
    return path


def ledger_runs(tmp_path: Path, name: str) -> list[Any]:
    with Ledger(tmp_path / "runs") as ledger:
        return ledger.runs(name)


REFUSED = {  # resources -> the field that is cited, what it asks, what the partition offers
    "cpus": ({"cpus_per_task": 8}, "resources.cpus_per_task",
             "asks 8 CPUs per node; the default partition debug's nodes have at most 4"),
    "memory": ({"mem": "16G"}, "resources.mem",
               "asks 16384 MB of memory per node; the default partition debug's nodes have at most 8000 MB"),
    "partition": ({"partition": "nope"}, "resources.partition",
                  "asks partition nope; this cluster has no such partition (it has: debug (default), closed, gpus, "
                  "short)"),
    "time": ({"partition": "short", "time": '"01:00:00"'}, "resources.time",
             "asks 01:00:00; partition short's MaxTime is 00:30:00"),
    "gpus": ({"gpus_per_node": 1}, "resources.gpus_per_node",
             "asks 1 GPU per node; the default partition debug's nodes have no GPUs"),
}


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_launch_that_asks_more_than_the_partition_has_is_refused_and_nothing_is_submitted(case, tmp_path, calls):
    resources, dotted, message = REFUSED[case]
    spec = smoke_spec(tmp_path, f"refused-{case}", chain=2, **resources)
    code, _, err = run_cli("launch", spec, "--yes")
    field = dotted.rsplit(".", 1)[1]
    assert code == 1, err
    assert f"{spec}:{line_of(spec, f'  {field}:')}: {dotted}: {message} (2 runs of stage smoke)" in err, err
    assert "nothing was submitted" in err and "Traceback" not in err
    assert calls("sbatch") == [] and len(calls("sinfo")) == 1
    assert ledger_runs(tmp_path, f"refused-{case}") == []  # not even recorded


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
def test_every_problem_is_listed_at_once(tmp_path, calls):
    spec = smoke_spec(tmp_path, "many", cpus_per_task=8, mem="16G", gpus_per_node=1, partition="closed")
    code, _, err = run_cli("launch", spec, "--yes")
    assert code == 1 and "(4 problems)" in err
    for field in ("partition", "cpus_per_task", "mem", "gpus_per_node"):
        assert re.search(rf"{re.escape(str(spec))}:{line_of(spec, f'  {field}:')}: resources\.{field}: ", err), field
    assert "partition closed; it is down" in err and calls("sbatch") == []


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
def test_a_fitting_multi_run_spec_is_submitted_after_one_sinfo_call(tmp_path, calls):
    spec = smoke_spec(tmp_path, "fits", chain=2)
    code, _, err = run_cli("launch", spec, "--yes", "--hold", "-o", "sweep.grid.smoke.value=[1,2,3]")
    try:
        assert code == 0, err
        assert "stage smoke: 6 runs fit the default partition debug" in err
        assert len(calls("sinfo")) == 1  # the whole check, for 6 runs in 2 arrays
        assert len(calls("sbatch")) == 2  # one per array: no call per run
        assert {r.state for r in ledger_runs(tmp_path, "fits")} == {"PENDING"}
    finally:
        run_cli("cancel", "fits", "--root", tmp_path / "runs")


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
def test_no_preflight_leaves_it_to_sbatch(tmp_path, calls):
    spec = smoke_spec(tmp_path, "unchecked", cpus_per_task=8)
    code, _, err = run_cli("launch", spec, "--yes", "--no-preflight")
    assert code == 1 and "sbatch refused" in err and "CPU count per node can not be satisfied" in err, err
    assert "the cluster cannot run" not in err and "Traceback" not in err
    assert calls("sinfo") == [] and len(calls("sbatch")) == 1


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
def test_compile_check_cluster_checks_without_submitting(tmp_path, calls):
    spec = smoke_spec(tmp_path, "checked", chain=2)
    code, out, err = run_cli("compile", spec, "--check-cluster", "-o", "sweep.grid.smoke.value=[1,2]")
    assert code == 0, err
    assert "stage smoke: 4 runs fit the default partition debug (each 1 node x 1 CPU, 500 MB, 0 GPUs, 00:05:00)" in err
    assert "checked" in out  # the usual table, on stdout
    code, _, err = run_cli("compile", spec, "--check-cluster", "-o", "resources.cpus_per_task=8")
    assert code == 1 and "override -o resources.cpus_per_task=8: resources.cpus_per_task: asks 8 CPUs per node" in err
    assert len(calls("sinfo")) == 2 and calls("sbatch") == []  # one per command


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
def test_gpus_that_fit_a_node_that_is_down_only_warn(tmp_path, calls):
    spec = smoke_spec(tmp_path, "gpus", gpus_per_node=2, procs_per_node=2, partition="gpus")
    code, _, err = run_cli("compile", spec, "--check-cluster")
    assert code == 0, err
    assert "warning: partition gpus: 0 of its nodes that fit" in err and "n3 down" in err and "will wait" in err
    assert "stage smoke: 1 run fits partition gpus (each 1 node x 1 CPU, 500 MB, 2 GPUs, 00:05:00)" in err
    code, _, err = run_cli("compile", spec, "--check-cluster", "-o", "resources.gpus_per_node=4",
                           "-o", "resources.procs_per_node=4")
    assert code == 1 and "asks 4 GPUs per node; partition gpus's nodes have at most 2" in err


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
def test_accounts_and_qos_are_checked_with_sacctmgr(tmp_path):
    spec = smoke_spec(tmp_path, "acct", account="root", qos="normal")
    code, _, err = run_cli("compile", spec, "--check-cluster")
    assert code == 0, err
    code, _, err = run_cli("compile", spec, "--check-cluster", "-o", "resources.account=nope",
                           "-o", "resources.qos=high")
    assert code == 1, err
    assert ("override -o resources.account=nope: resources.account: asks account nope; you may charge only root on "
            "the default partition debug (sacctmgr)") in err
    assert "resources.qos" not in err  # an account you do not have has no QOS to compare with
    code, _, err = run_cli("compile", spec, "--check-cluster", "-o", "resources.qos=high")
    assert code == 1 and "resources.qos: asks QOS high; account root allow(s) only normal (sacctmgr)" in err, err


@pytest.mark.slow
@pytest.mark.usefixtures("preflight_cluster")
def test_a_cluster_that_hides_its_configuration_stops_the_launch_until_no_preflight(tmp_path, monkeypatch):
    hidden = tmp_path / "bin"
    hidden.mkdir()
    (hidden / "sinfo").write_text("#!/bin/sh\necho 'sinfo: error: Access/permission denied' >&2\nexit 1\n")
    (hidden / "sinfo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{hidden}{os.pathsep}{os.environ['PATH']}")
    spec = smoke_spec(tmp_path, "hidden")
    code, _, err = run_cli("launch", spec, "--yes", "--hold")
    assert code == 1 and "Access/permission denied" in err and "pass --no-preflight" in err, err
    assert "Traceback" not in err and ledger_runs(tmp_path, "hidden") == []
    code, _, err = run_cli("launch", spec, "--yes", "--hold", "--no-preflight")
    try:
        assert code == 0, err
        assert [r.state for r in ledger_runs(tmp_path, "hidden")] == ["PENDING"]
    finally:
        run_cli("cancel", "hidden", "--root", tmp_path / "runs")
