"""Submission units, dependency strings and the ledger's state rules, without SLURM."""

from __future__ import annotations

import dataclasses

import pytest

from compiler import compile
from launch import ledger as L
from launch.executors.slurm import SlurmExecutor
from launch.executors.slurm.accounting import JobInfo, _combined
from launch.executors.slurm.arrays import group
from launch.executors.slurm.jobs import JobMap, dry_run_scripts
from launch.launcher import select
from launch.ledger import Ledger, LedgerError
from specs import SpecError, load_spec, load_text
from tests.conftest import EXAMPLES, MINIMAL


def _upstream_first(units):
    seen: set[str] = set()
    for unit in units:
        for run in unit.runs:
            assert set(run.depends_on) & {r.id for u in units for r in u.runs} <= seen, run.name
        seen |= {r.id for r in unit.runs}


def test_units_come_in_dependency_order_even_when_resources_split_a_stage(write_spec):
    spec = write_spec(MINIMAL.replace("gpus_per_node: 2,", "gpus_per_node: 2, procs_per_node: 1,")
                      + "evaluation: {}\nstages: {evaluate: {resources: {gpus_per_node: 1, procs_per_node: 1}}}\n"
                      "sweep: {grid: {resources.procs_per_node: [1, 2], training.lr: [1.0e-5, 2.0e-5]}}\n")
    plan = compile(load_spec(spec))
    units = group(list(plan.runs))
    _upstream_first(units)
    text = dry_run_scripts(plan, None, SlurmExecutor(), dataclasses.replace(_all(plan)))
    assert text.count("--dependency=") == sum(1 for u in units if u.runs[0].depends_on)


def _all(plan):
    from launch.launcher import Selection

    return Selection(submit=list(plan.runs))


def test_aligned_stages_wait_task_by_task():
    plan = compile(load_spec(EXAMPLES / "sft-tiny.yaml"))
    sft, evaluate = group(list(plan.runs))
    assert len(sft.runs) == len(evaluate.runs) == 2 and evaluate.corr_upstream == [sft]
    jobs = JobMap(None)
    jobs.add(sft, "100")
    assert jobs.dependency(evaluate, {r.id for r in plan.runs}) == "aftercorr:100"


def test_a_shared_upstream_is_waited_for_with_afterok():
    plan = compile(load_spec(EXAMPLES / "formula_dpo-tiny.yaml", ["sweep.grid.formula.dpo.beta=[0.1,0.5]"]))
    units = group(list(plan.runs))
    _upstream_first(units)
    dpo = next(u for u in units if u.stage == "dpo")
    assert len(dpo.runs) == 2 and not dpo.corr_upstream and len(dpo.ok_upstream) == 2  # sft and mine


def test_sharded_runs_are_arrays_of_their_own():
    plan = compile(load_spec(EXAMPLES / "spin-tiny.yaml"))
    units = group(list(plan.runs))
    _upstream_first(units)
    gen = [u for u in units if u.stage.startswith("generate")]
    assert all(u.sharded and len(u.runs) == 1 and len(u.tasks) == 2 for u in gen)
    jobs = JobMap(None)
    jobs.add(gen[0], "7")
    assert jobs.of_run[gen[0].runs[0].id] == "7"  # the whole array: afterok:7 waits for every shard


def test_a_sharded_runs_state_combines_its_shards():
    done, run, fail = JobInfo("COMPLETED", 1.0, 5.0), JobInfo("RUNNING", 2.0, None), JobInfo("FAILED", 1.0, 3.0)
    assert _combined([done, done]).state == "COMPLETED"
    assert _combined([done, run]).state == "RUNNING"
    assert _combined([done, fail]).state == "FAILED"
    assert _combined([done, None]).state == "RUNNING"
    assert _combined([None, None]) is None


def test_a_blocked_run_blocks_its_own_dependents(tmp_path):
    plan = compile(load_text(MINIMAL + "evaluation: {}\n"))
    with Ledger(tmp_path) as ledger:
        ledger.upsert_planned("mini", [(r.id, r.name, r.stage, r.run_dir, r.depends_on, 1, r.coordinates)
                                       for r in plan.runs], {})
        ledger.set_state(plan.runs[0].id, L.FAILED)
        sel = select(plan, ledger, force=False, retry_failed=False)
    assert sel.submit == [] and plan.runs[1].id in sel.blocked


def test_two_experiments_with_the_same_settings_are_different_runs():
    a = compile(load_text(MINIMAL))
    b = compile(load_text(MINIMAL.replace("name: mini", "name: other")))
    assert a.runs[0].id != b.runs[0].id


def test_a_ledger_that_is_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / ".labspec").mkdir()
    (tmp_path / ".labspec" / "ledger.sqlite").write_text("not a database")
    with pytest.raises(LedgerError, match="cannot use the ledger"):
        Ledger(tmp_path)


def test_control_characters_never_reach_sbatch_lines():
    for field in ('partition: "gpu\\ntouch /tmp/x #"', 'sbatch_extra: {comment: "x\\ry"}'):
        with pytest.raises(SpecError, match="one line"):
            load_text(MINIMAL.replace("resources: {", "resources: {" + field + ", "))
