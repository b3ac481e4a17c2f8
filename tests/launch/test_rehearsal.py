"""`--rehearse` as planned: the same DAG and task configs with every model and data file
swapped and every size capped; and the bad input it refuses before launching anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler import compile
from compiler.plan import Plan
from compiler.rehearsal import LM_EVAL_DATA, SUFFIX, WRITERS, Rehearsal
from specs.errors import CompileError
from specs.loader import load_spec
from tests.conftest import EXAMPLES
from tests.launch_helpers import run_cli

FULL_SCALE = ["formula_dpo", "spin", "radio", "radio_convnext", "size_ladder", "reasoning", "sft"]


@pytest.fixture(autouse=True)
def no_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of the real models is on disk: an empty hub cache, whatever this machine has."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))


def plans(name: str, tmp_path: Path, **options: Any) -> tuple[Plan, Plan, Rehearsal]:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    rehearsal = Rehearsal(**options)
    return (compile(spec, output_root=str(tmp_path)), compile(spec, output_root=str(tmp_path), rehearsal=rehearsal),
            rehearsal)


def edges(plan: Plan) -> set[tuple[str, str]]:
    names = {r.id: r.name for r in plan.runs}
    return {(names[d], r.name) for r in plan.runs for d in r.depends_on}


@pytest.mark.parametrize("name", FULL_SCALE)
def test_a_rehearsal_is_the_same_plan_with_models_data_and_sizes_swapped(name, tmp_path):
    real, rehearsed, _ = plans(name, tmp_path)
    assert rehearsed.experiment == real.experiment + SUFFIX and rehearsed.rehearsal
    assets = rehearsed.runs[0]
    assert assets.name == "rehearsal_assets" and not assets.depends_on
    others = rehearsed.runs[1:]
    # every stage, the same DAG, each run after the assets are built
    assert [r.name for r in others] == [r.name for r in real.runs]
    assert edges(rehearsed) == edges(real) | {("rehearsal_assets", r.name) for r in others}
    assert not {r.id for r in rehearsed.runs} & {r.id for r in real.runs}
    built = {m["source"] for m in assets.config["task_config"]["models"]}
    for before, after in zip(real.runs, others, strict=True):
        assert before.config["task"] == after.config["task"]
        assert after.run_dir.startswith(f"{tmp_path}/{rehearsed.experiment}/")
        assert after.resources["gpus_per_node"] == 0 and after.resources["nodes"] == 1
        if before.deepspeed is not None:  # the same ZeRO stage, LoRA or full tuning
            assert after.deepspeed["zero_optimization"]["stage"] == before.deepspeed["zero_optimization"]["stage"]
            assert after.config["training"]["max_steps"] == 2
        assert (after.config["peft"] is None) == (before.config["peft"] is None)
        text = json.dumps({k: v for k, v in after.config["task_config"].items() if k != "provenance"})  # a label
        for source in built:  # no run reads a real model or data set
            assert json.dumps(source) not in text
        assert "/datasets/" not in text
    assert built  # and the assets run builds every one of them
    assert any("rehearsal:" in w for w in rehearsed.warnings)


def test_on_slurm_the_node_count_and_a_debug_partition_are_kept(tmp_path):
    real, rehearsed, _ = plans("radio", tmp_path, executor="slurm", partition="debug")
    distill = next(r for r in rehearsed.runs if r.name == "distill")
    assert real.run(next(r.id for r in real.runs if r.name == "distill")).resources["nodes"] == 2
    assert distill.resources["nodes"] == 2 and distill.resources["partition"] == "debug"
    assert distill.resources["gpus_per_node"] == 0


def test_the_model_classes_tokenizers_and_processors_come_from_the_table(tmp_path):
    _, _, rehearsal = plans("radio", tmp_path)
    models = {m.source: m for m in rehearsal.models.values()}
    assert {m.architecture for m in models.values()} == {"CLIPVisionModel", "Dinov2Model", "SamVisionModel",
                                                         "Qwen2ForCausalLM"}
    assert models["facebook/sam-vit-base"].processor == "sam"
    sam = models["facebook/sam-vit-base"].config
    assert sam["image_size"] == 1024 and sam["hidden_size"] < 768  # structure kept, width shrunk
    _, _, rehearsal = plans("formula_dpo", tmp_path)
    (qwen2_vl,) = rehearsal.models.values()
    assert qwen2_vl.architecture == "Qwen2VLForConditionalGeneration" and qwen2_vl.tokenizer == "qwen2"
    assert qwen2_vl.config["vision_config"]["spatial_merge_size"] == 2


def test_a_model_on_disk_is_rebuilt_from_its_own_config(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "hidden_size": 1024, "num_hidden_layers": 20, "num_attention_heads": 16,
        "num_key_value_heads": 4, "intermediate_size": 4096, "vocab_size": 50000, "rope_theta": 12345.0}))
    spec = load_spec(EXAMPLES / "sft.yaml", [f"model.name_or_path={folder}"])
    rehearsal = Rehearsal()
    compile(spec, output_root=str(tmp_path / "runs"), rehearsal=rehearsal)
    (model,) = rehearsal.models.values()
    assert model.files_from == str(folder) and model.architecture == "Qwen2ForCausalLM"
    assert model.config["rope_theta"] == 12345.0 and model.config["num_hidden_layers"] == 2


def test_an_unknown_model_is_refused_with_how_to_give_its_config(cli, tmp_path):
    code, _, err = cli("compile", EXAMPLES / "sft.yaml", "--rehearse", "-o", "model.name_or_path=acme/mystery-7b")
    assert code != 0 and "Traceback" not in err
    assert "acme/mystery-7b" in err and "config.json" in err


def test_data_with_no_synthetic_writer_is_refused(cli, tmp_path):
    code, _, err = cli("compile", EXAMPLES / "sft.yaml", "--rehearse", "-o", "data.format=arrow",
                       "-o", "data.train=/datasets/metamathqa/train.arrow")
    assert code != 0 and "Traceback" not in err
    assert "/datasets/metamathqa/train.arrow" in err and "no synthetic writer" in err and "arrow" in err
    with pytest.raises(CompileError, match="no synthetic writer for formula data"):
        compile(load_spec(EXAMPLES / "formula_dpo.yaml", ["formula.dataset.format=im2latex_parquet",
                                                           "formula.dataset.test_subsets=[]"]),
                output_root=str(tmp_path), rehearsal=Rehearsal())


def test_rehearse_with_force_is_refused_and_nothing_is_launched(tmp_path):
    root = tmp_path / "runs"
    code, _, err = run_cli("launch", EXAMPLES / "spin.yaml", "--rehearse", "--force", "--executor", "local", "-y",
                           "-o", f"output_root={root}")
    assert code != 0 and "--force" in err and "Traceback" not in err
    assert not root.exists()
    code, _, err = run_cli("launch", EXAMPLES / "spin.yaml", "--partition", "debug", "--dry-run", "--executor", "local",
                           "-o", f"output_root={root}")
    assert code != 0 and "--rehearse" in err


def test_a_real_experiment_cannot_take_a_rehearsals_name(cli):
    code, _, err = cli("validate", EXAMPLES / "sft.yaml", "-o", "name=sft.rehearsal")
    assert code != 0 and ".rehearsal" in err


def test_the_compiler_and_the_runtime_know_the_same_writers():
    from runtime.rehearsal.data import LM_EVAL_ROWS
    from runtime.rehearsal.data import WRITERS as RUNTIME_WRITERS

    assert set(WRITERS) == set(RUNTIME_WRITERS)
    assert set(LM_EVAL_DATA) == set(LM_EVAL_ROWS)


def test_the_first_rows_of_data_on_disk_are_taken_with_their_images(tmp_path):
    from runtime.rehearsal.data import write
    from specs.tasks.rehearsal import RehearsalData

    source = tmp_path / "real" / "train.jsonl"
    (source.parent / "img").mkdir(parents=True)
    rows = []
    for i in range(50):
        (source.parent / "img" / f"{i}.png").write_bytes(b"png")
        rows.append({"image": f"img/{i}.png", "prompt": f"q{i}", "completion": f"a{i}"})
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "rehearsal" / "train.jsonl"
    done = write(RehearsalData(path=str(out), source=str(source), layout="image_text", rows=5, from_disk=True))
    copied = [json.loads(line) for line in out.read_text().splitlines()]
    assert done["rows"] == 5 and [r["prompt"] for r in copied] == ["q0", "q1", "q2", "q3", "q4"]
    assert copied[0]["image"] == str(source.parent / "img" / "0.png")


def test_the_compile_verb_shows_the_rehearsal(cli, tmp_path):
    code, out, err = cli("compile", EXAMPLES / "spin.yaml", "--rehearse", "--emit", tmp_path)
    assert code == 0, err
    assert "spin-qwen2.5-0.5b.rehearsal" in out and "rehearsal_assets" in out
    assert "2 optimizer steps per training stage" in err
    assert (tmp_path / "spin-qwen2.5-0.5b.rehearsal").is_dir()
