"""The compiler: sweeps, ids, names, the stage DAG, references between stages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compiler import compile
from compiler.sweep import points
from specs import CompileError, SpecError, load_spec
from specs.sections import SweepSpec
from tests.conftest import MINIMAL, REPO


def test_grid_zip_and_seeds_multiply():
    sweep = SweepSpec(grid={"a": [1, 2], "b": ["x", "y", "z"]},
                      zip=[{"c": [1, 2], "d": [3, 4]}, {"e": [5, 6]}], seeds=[0, 1])
    pts = points(sweep)
    assert len(pts) == 2 * 3 * 2 * 2 * 2
    assert pts[0] == {"a": 1, "b": "x", "c": 1, "d": 3, "e": 5, "seed": 0}
    assert {(p["c"], p["d"]) for p in pts} == {(1, 3), (2, 4)}  # zipped, not crossed
    assert points(SweepSpec()) == [{}]


def test_sweep_compiles_one_run_per_point_and_stage(write_spec):
    spec = write_spec(MINIMAL + "evaluation: {}\npeft: {enabled: true}\n"
                      "sweep:\n  grid: {training.lr: [1.0e-5, 2.0e-5], peft.r: [8, 16]}\n  seeds: [1, 2]\n")
    plan = compile(load_spec(spec))
    assert plan.warnings == ()
    assert len(plan.runs) == 2 * 2 * 2 * 2
    sft = [r for r in plan.runs if r.stage == "sft"]
    assert {(r.axes["training.lr"], r.axes["peft.r"], r.axes["seed"]) for r in sft} == {
        (lr, r, s) for lr in (1e-5, 2e-5) for r in (8, 16) for s in (1, 2)}
    assert {r.config["seed"] for r in sft} == {1, 2}
    assert {r.config["training"]["lr"] for r in sft} == {1e-5, 2e-5}
    names = [r.name for r in plan.runs]
    assert len(set(names)) == len(names)
    assert "sft__lr=1e-05__r=8__seed=1" in names
    for ev in (r for r in plan.runs if r.stage == "evaluate"):
        (dep,) = ev.depends_on
        upstream = plan.run(dep)
        assert upstream.axes == ev.axes
        assert ev.config["task_config"]["model"]["name_or_path"] == upstream.run_dir + "/checkpoints/final"


def test_a_sweep_that_changes_nothing_is_merged_and_warned(write_spec):
    spec = write_spec(MINIMAL + "sweep: {grid: {peft.r: [8, 16], training.lr: [1.0e-5, 2.0e-5]}}\n")
    plan = compile(load_spec(spec))  # peft is off: its rank changes no run
    assert len(plan.runs) == 2
    assert any("peft.r" in w and "changes no run" in w for w in plan.warnings)


def test_unknown_sweep_paths_and_bad_zips_are_errors(write_spec):
    spec = write_spec(MINIMAL + "sweep:\n  grid: {training.lrr: [1], name: [a]}\n"
                      "  zip: [{training.lr: [1, 2], peft.r: [1]}]\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    shown = str(exc.value)
    assert "sweep.grid.training.lrr" in shown and "did you mean 'training.lr'" in shown
    assert "'name' cannot be swept" in shown
    assert "zip lists must have equal lengths" in shown
    assert f"{spec}:8:" in shown


def test_a_bad_swept_value_names_the_point(write_spec):
    spec = write_spec(MINIMAL + "sweep: {grid: {training.micro_batch_size: [2, 3]}}\n")
    with pytest.raises(SpecError) as exc:
        compile(load_spec(spec))
    (p,) = exc.value.problems
    assert p.path == "training.global_batch_size"
    assert "not divisible by micro_batch_size 3 x world size 2" in p.message
    assert "sweep point training.micro_batch_size=3" in p.message


def test_a_bad_swept_value_is_reported_at_its_sweep_line(write_spec):
    spec = write_spec(MINIMAL + "sweep:\n  grid:\n    training.lr: [1.0e-5, fast]\n")
    with pytest.raises(SpecError) as exc:
        compile(load_spec(spec))
    (p,) = exc.value.problems
    assert p.path == "training.lr" and p.line == 9 and "training.lr='fast'" in p.message


def test_ids_ignore_cosmetics_and_change_with_results(write_spec, tmp_path):
    base = compile(load_spec(write_spec(MINIMAL)))
    cosmetic = compile(load_spec(write_spec(MINIMAL.replace("time:", "partition: big, qos: high, time:")
                                            + "description: other words\noutput_root: elsewhere\n", "b.yaml")),
                       python="/other/python")
    assert [r.id for r in base.runs] == [r.id for r in cosmetic.runs]
    assert base.runs[0].run_dir != cosmetic.runs[0].run_dir
    changed = compile(load_spec(write_spec(MINIMAL.replace("micro_batch_size: 2", "micro_batch_size: 1"),
                                           "c.yaml")))
    assert base.runs[0].id != changed.runs[0].id
    with_env = compile(load_spec(write_spec(MINIMAL + "env: {FOO: bar}\n", "d.yaml")))
    assert base.runs[0].id != with_env.runs[0].id


def test_ids_are_stable_across_processes_and_hash_seeds(write_spec):
    spec = write_spec(MINIMAL + "evaluation: {}\nsweep: {grid: {training.lr: [1.0e-5, 3.0e-5]}}\n")
    code = ("import json,sys; from specs import load_spec; from compiler import compile; "
            "print(json.dumps([r.id for r in compile(load_spec(sys.argv[1])).runs]))")
    seen = set()
    for seed in ("0", "1", "12345"):
        out = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True,
                             check=True, cwd=REPO, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"})
        seen.add(out.stdout)
    assert len(seen) == 1
    assert compile(load_spec(spec)).runs[0].id == json.loads(seen.pop())[0]


def test_upstream_changes_propagate_to_downstream_ids(write_spec):
    a = compile(load_spec(write_spec(MINIMAL + "evaluation: {}\n")))
    b = compile(load_spec(write_spec(MINIMAL + "evaluation: {}\n", "b.yaml"), ["training.lr=3e-5"]))
    assert a.runs[1].config["task_config"]["evaluation"] == b.runs[1].config["task_config"]["evaluation"]
    assert a.runs[1].id != b.runs[1].id  # same evaluation settings, different upstream model


def test_shared_stages_are_one_run(write_spec):
    """Sweeping DPO's beta in formula_dpo shares prepare, SFT, its evaluations and mining."""
    plan = compile(load_spec(REPO / "specs/examples/formula_dpo-tiny.yaml",
                             ["sweep.grid.formula.dpo.beta=[0.1,0.5]"]))
    stages = [r.stage for r in plan.runs]
    assert stages.count("sft") == 1 and stages.count("mine") == 1
    assert stages.count("dpo") == 2 and stages.count("evaluate_dpo_test") == 2
    sft = next(r for r in plan.runs if r.stage == "sft")
    assert sft.axes == {} and sft.name == "sft"
    assert {r.name for r in plan.runs if r.stage == "dpo"} == {"dpo__beta=0.1", "dpo__beta=0.5"}


def test_spin_chain_references_previous_iterations():
    plan = compile(load_spec(REPO / "specs/examples/spin.yaml"))
    by_stage = {r.stage: r for r in plan.runs}
    t0, t1, t2 = (by_stage[f"train_t{t}"] for t in range(3))
    assert t0.config["task_config"]["reference"]["name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert t1.config["task_config"]["reference"]["name_or_path"] == t0.config["outputs"]["model"]
    assert t1.config["task_config"]["model"]["name_or_path"] == t0.config["outputs"]["model"]
    assert t2.config["training"]["lr"] == 1e-7 and t1.config["training"]["lr"] == 5e-7
    assert by_stage["train_t3"].config["task_config"]["dpo"]["beta"] == 5.0
    pairs1 = by_stage["pairs_t1"]
    assert pairs1.config["task_config"]["previous"] == [by_stage["pairs_t0"].config["run_dir"]
                                                        + "/outputs/new_pairs.jsonl"]
    assert set(pairs1.depends_on) == {by_stage["generate_t1"].id, by_stage["pairs_t0"].id}
    assert by_stage["generate_t0"].resources["gpus_per_node"] == 1
    assert by_stage["pairs_t0"].launcher == "python"
    assert t0.deepspeed is not None and by_stage["generate_t0"].deepspeed is None


def test_plan_is_a_dag_in_dependency_order():
    for spec in sorted((REPO / "specs/examples").glob("*.yaml")):
        plan = compile(load_spec(spec))
        seen: set[str] = set()
        for r in plan.runs:
            assert set(r.depends_on) <= seen, (spec.name, r.name)
            seen.add(r.id)


def test_size_ladder_resources_grow_with_the_model():
    plan = compile(load_spec(REPO / "specs/examples/size_ladder.yaml"))
    gpus = {r.coordinates["model"]: r.resources["gpus_per_node"] for r in plan.runs if r.stage_type == "evaluate"}
    # bf16 weights + 30% headroom on 80 GB GPUs: 32.5B needs 84.5 GB, 72.7B 189 GB
    assert gpus["q0.5b"] == 1 and gpus["q14b"] == 1 and gpus["q32b"] == 2 and gpus["q72b"] == 4
    agg = plan.runs[-1]
    assert agg.stage == "aggregate" and len(agg.depends_on) == 28


def test_run_dirs_are_deterministic_and_relative_to_base_dir(write_spec, tmp_path):
    spec = load_spec(write_spec(MINIMAL))
    a = compile(spec, base_dir=str(tmp_path))
    b = compile(spec, base_dir=str(tmp_path))
    assert [r.run_dir for r in a.runs] == [r.run_dir for r in b.runs]
    assert a.runs[0].run_dir == f"{tmp_path}/runs/mini/sft-{a.runs[0].id}"
    assert a.runs[0].config["base_dir"] == str(tmp_path)


def test_compile_accepts_a_validated_experiment():
    from specs import load_text

    exp = load_text(MINIMAL + "sweep: {grid: {training.lr: [1.0e-5, 2.0e-5]}}\n")
    assert len(compile(exp).runs) == 2


def test_stage_overrides_merge_field_by_field(write_spec):
    spec = write_spec(MINIMAL + "evaluation: {}\nstages:\n  evaluate:\n    resources: {gpus_per_node: 1}\n"
                      "    launcher: python\n")
    plan = compile(load_spec(spec))
    ev = plan.runs[1].resources
    assert ev["gpus_per_node"] == 1 and ev["time"] == "01:00:00"  # time inherited
    assert plan.runs[1].launcher == "python" and plan.runs[0].launcher == "torchrun"


def test_compile_error_is_a_labspec_error():
    from compiler.deepspeed import derive
    from specs.sections import DeepSpeedSpec, TrainingSpec

    with pytest.raises(CompileError, match="not divisible"):
        derive(TrainingSpec(global_batch_size=10, micro_batch_size=4), DeepSpeedSpec(), 1)


def test_nested_stage_overrides_keep_what_they_do_not_set(write_spec):
    """A stage override of deepspeed.offload_param.pin_memory keeps the offload device;
    a stage passthrough merges into the top-level one."""
    write_spec(MINIMAL + "deepspeed:\n  zero_stage: 3\n  offload_optimizer: {device: cpu}\n"
               "  offload_param: {device: cpu}\n  config: {sub_group_size: 1000, a: {b: 1}}\n", "base.yaml")
    child = write_spec("extends: base.yaml\nstages:\n  sft:\n    deepspeed:\n"
                       "      offload_param: {pin_memory: false}\n      config: {a: {c: 2}}\n", "child.yaml")
    ds = compile(load_spec(child)).runs[0].deepspeed
    assert ds["zero_optimization"]["offload_param"] == {"device": "cpu", "pin_memory": False}
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert ds["sub_group_size"] == 1000 and ds["a"] == {"b": 1, "c": 2}


def test_size_ladder_refuses_models_larger_than_a_node(write_spec):
    from tests.conftest import EXAMPLES

    with pytest.raises(CompileError, match="more than one node's 8"):
        compile(load_spec(EXAMPLES / "size_ladder.yaml", ["resources.gpu_mem_gb=16"]))


def test_hparams_rows_are_grid_points_keyed_by_what_varies():
    """One TensorBoard HParams row per grid point; a shared run joins every row of its points;
    a key swept over one value is not a hyperparameter; figures are named by stage."""
    plan = compile(load_spec(REPO / "specs/examples/formula_dpo-tiny.yaml",
                             ["sweep.grid.formula.dpo.beta=[0.1,0.5]", "sweep.seeds=[0]"]))
    tb = {r.name: r.config["tensorboard"] for r in plan.runs}
    assert tb["sft"]["sessions"] == [{"name": "beta=0.1", "hparams": {"formula.dpo.beta": 0.1}},
                                     {"name": "beta=0.5", "hparams": {"formula.dpo.beta": 0.5}}]
    assert tb["dpo__beta=0.5"]["sessions"] == [{"name": "beta=0.5", "hparams": {"formula.dpo.beta": 0.5}}]
    assert tb["sft"]["metric_prefix"] == "sft/" and tb["evaluate_dpo_test__beta=0.1"]["metric_prefix"] == \
        "evaluate_dpo_test/"


def test_iterative_routes_get_a_row_per_model_with_figures_by_role():
    plan = compile(load_spec(REPO / "specs/examples/spin-tiny.yaml"))
    tb = {r.name: r.config["tensorboard"] for r in plan.runs}
    assert tb["sft"]["sessions"] == [{"name": "model=0", "hparams": {"model": 0}}]
    assert tb["evaluate_start"]["sessions"] == tb["sft"]["sessions"]
    for name in ("generate_t1", "pairs_t1", "train_t1", "evaluate_t1"):
        assert tb[name]["sessions"] == [{"name": "model=2", "hparams": {"model": 2}}], name
    assert [tb[n]["metric_prefix"] for n in ("sft", "train_t1", "evaluate_t1")] == ["train/", "train/", "evaluate/"]


def test_without_a_sweep_the_one_row_is_the_experiment():
    plan = compile(load_spec(REPO / "specs/examples/radio-tiny.yaml"))
    one = [{"name": "radio-tiny", "hparams": {"experiment": "radio-tiny"}}]
    for run in plan.runs:
        assert run.config["tensorboard"]["sessions"] == one
        assert run.config["tensorboard"]["metric_prefix"] == f"{run.stage}/"
