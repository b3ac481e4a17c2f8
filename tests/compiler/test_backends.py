"""`generation.backend: vllm` at validation and compile time: where a stage asks for vLLM,
it runs in an interpreter that has it, from one process on one node, with the GPUs its
split needs; the stage's own interpreter is the one in its command."""

from __future__ import annotations

import pytest

from compiler import backends, compile
from specs import CompileError, SpecError, load_spec
from specs.sections import ResourcesSpec
from specs.tasks.generic import EvaluateTask
from tests.conftest import EXAMPLES

VLLM_PY = "/opt/vllm-env/bin/python"  # a stage's own interpreter: only named, never run here


def spin(*overrides: str):
    return load_spec(EXAMPLES / "spin.yaml", ["spin.generation.backend=vllm", *overrides])


def test_a_vllm_stage_runs_in_its_own_interpreter_the_others_in_the_experiments():
    plan = compile(spin(f"stages.generate.python={VLLM_PY}", "stages.generate.launcher=python"))
    generate = [r for r in plan.runs if r.stage_type == "generate"]
    others = [r for r in plan.runs if r.stage_type != "generate"]
    assert generate and all(r.command[0] == VLLM_PY for r in generate)
    assert all(r.command[0] != VLLM_PY for r in others)
    assert all(VLLM_PY in r.script for r in generate)
    config = generate[0].config["task_config"]["generation"]
    assert config["backend"] == "vllm" and config["vllm"]["tensor_parallel_size"] == 1


def test_vllm_where_the_stage_interpreter_lacks_it_names_the_environment_to_build():
    with pytest.raises(CompileError) as exc:
        compile(spin("stages.generate.launcher=python"))  # runs in this interpreter, which has no vllm
    assert "scripts/setup_vllm.sh" in str(exc.value) and "stages.generate.python" in str(exc.value)


@pytest.mark.parametrize(("overrides", "says"), [
    (["stages.generate.launcher=torchrun", "stages.generate.resources.procs_per_node=2",
      "stages.generate.resources.gpus_per_node=2"],
     "set stages.generate.launcher: python"),
    (["spin.generation.vllm.tensor_parallel_size=4"], "gpus_per_node: 4"),
    (["stages.generate.resources.nodes=2", "stages.generate.launcher=torchrun"], "resources.nodes: 1"),
])
def test_vllm_stages_that_could_not_run_are_refused_with_the_field_to_change(overrides, says):
    with pytest.raises(CompileError) as exc:
        compile(spin(f"stages.generate.python={VLLM_PY}", "stages.generate.launcher=python", *overrides))
    assert says in str(exc.value)


def test_the_llava_style_mllm_is_refused_for_vllm():
    spec = load_spec(EXAMPLES / "radio.yaml", ["radio.mllm.evaluation.generation.backend=vllm",
                                                 f"stages.evaluate_mllm.python={VLLM_PY}"])
    with pytest.raises(CompileError) as exc:
        compile(spec)
    assert "mllm" in str(exc.value) and "backend: hf" in str(exc.value)
    with pytest.raises(CompileError) as exc:  # the mllm evaluator
        backends.check("evaluate_mllm", "evaluate_mllm", EvaluateTask.model_validate({
            "model": {"name_or_path": "/m"}, "data": {"path": "/d"}, "evaluator": "mllm",
            "evaluation": {"generation": {"backend": "vllm"}}}), ResourcesSpec(), "python", VLLM_PY)
    assert "'mllm' evaluator" in str(exc.value)


def test_per_request_seeds_need_vllm():
    with pytest.raises(SpecError) as exc:
        load_spec(EXAMPLES / "spin.yaml", ["spin.generation.seed=7"])
    assert "seed" in str(exc.value) and "backend: vllm" in str(exc.value)


def test_ladder_cells_split_the_model_over_their_gpus():
    spec = load_spec(EXAMPLES / "size_ladder.yaml", ["ladder.backend=vllm", f"stages.evaluate.python={VLLM_PY}",
                                                     "ladder.tiers=[{max_params: 8B, gpus: 1}, "
                                                     "{max_params: 80B, gpus: 4}]"])
    cells = {r.config["coordinates"]["model"]: r for r in compile(spec).runs if r.stage_type == "evaluate"}
    q72 = cells["q72b"].config["task_config"]
    assert q72["backend"] == "vllm" and q72["vllm"]["tensor_parallel_size"] == 4
    assert cells["q0.5b"].config["task_config"]["vllm"]["tensor_parallel_size"] == 1
    assert cells["q72b"].command[0] == VLLM_PY


def test_the_reasoning_routes_generation_follows_its_backend():
    pythons = [f"stages.{t}.python={VLLM_PY}" for t in ("sample", "filter", "evaluate", "plan_solve")]
    plan = compile(load_spec(EXAMPLES / "reasoning.yaml", ["reasoning.backend=vllm", *pythons]))
    by_type: dict[str, list] = {}
    for run in plan.runs:
        by_type.setdefault(run.stage_type, []).append(run)
    tc = [r.config["task_config"] for r in by_type["sample"]]
    assert all(c["generation"]["backend"] == "vllm" for c in tc)
    assert all(r.config["task_config"]["rationalization"]["backend"] == "vllm" for r in by_type["filter"])
    assert all(r.config["task_config"]["evaluation"]["generation"]["backend"] == "vllm" for r in by_type["evaluate"])
    assert by_type["plan_solve"][0].config["task_config"]["backend"] == "vllm"
    assert all(r.command[0] == VLLM_PY for t in ("sample", "filter", "evaluate", "plan_solve") for r in by_type[t])
    assert all(r.command[0] != VLLM_PY for r in by_type["sft"])
