"""Route spin: the published recipe's plan, the data-mixing choices, prompt clipping, and
the tiny example end to end (SFT, then two SPIN iterations on DeepSpeed) with checks of the
loop's invariants on the files it wrote, the one TensorBoard timeline and the report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from compiler import compile
from specs import load_spec
from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, status, tiny_example


def _by_stage(spec: Path, overrides: list[str] | None = None) -> dict:
    return {r.stage: r for r in compile(load_spec(spec, overrides or [])).runs}


def test_full_scale_example_has_the_published_recipe():
    runs = _by_stage(EXAMPLES / "spin.yaml")
    assert [s for s in runs if s.startswith("train")] == ["train_t0", "train_t1", "train_t2", "train_t3"]
    for t in range(4):
        tc = runs[f"train_t{t}"].config["task_config"]
        training = runs[f"train_t{t}"].config["training"]
        assert tc["dpo"]["beta"] == (5.0 if t == 3 else 0.1) and tc["dpo"]["loss_type"] == ["sigmoid"]
        assert training["lr"] == (5e-7 if t < 2 else 1e-7) and training["optimizer"] == "rmsprop"
        assert training["schedule"] == "linear" and training["warmup_ratio"] == 0.1
        assert training["global_batch_size"] == 64 and training["max_length"] == 1024
        assert runs[f"train_t{t}"].deepspeed["zero_optimization"]["stage"] == 3
        assert runs[f"train_t{t}"].deepspeed["bf16"]["enabled"] is True
        assert runs[f"generate_t{t}"].config["task_config"]["generation"]["max_new_tokens"] == 256
        assert runs[f"generate_t{t}"].config["task_config"]["prompt_fraction"] == 0.25
        assert runs[f"generate_t{t}"].shards == 8
    assert runs["train_t0"].resources["gpus_per_node"] == 8
    assert runs["train_t0"].config["task_config"]["dpo"]["max_prompt_length"] == 512


@pytest.mark.parametrize(("mixing", "expected"), [("current", []), ("current_and_previous", [1]),
                                                  ("all", [0, 1])])
def test_data_mixing_selects_the_earlier_iterations_pairs(mixing, expected):
    runs = _by_stage(EXAMPLES / "spin.yaml", [f"spin.pairs_from={mixing}"])
    pairs2 = runs["pairs_t2"]
    assert pairs2.config["task_config"]["previous"] == [runs[f"pairs_t{i}"].config["outputs"]["new_pairs"]
                                                        for i in expected]
    assert set(pairs2.depends_on) == {runs["generate_t2"].id} | {runs[f"pairs_t{i}"].id for i in expected}


def test_per_iteration_prompt_fraction_and_downsample():
    runs = _by_stage(EXAMPLES / "spin.yaml", ["spin.per_iteration.1.prompt_fraction=0.1", "spin.downsample=0.5"])
    assert runs["generate_t1"].config["task_config"]["prompt_fraction"] == 0.1
    assert runs["generate_t0"].config["task_config"]["prompt_fraction"] == 0.25
    assert runs["generate_t0"].config["task_config"]["sample_seed"] != runs["generate_t1"].config[
        "task_config"]["sample_seed"]  # each iteration draws its own prompts
    assert runs["pairs_t1"].config["task_config"]["downsample"] == 0.5


def test_hinge_variant():
    runs = _by_stage(EXAMPLES / "spin.yaml", ["spin.loss_type=hinge"])
    assert runs["train_t1"].config["task_config"]["dpo"]["loss_type"] == ["hinge"]


def test_sft_weight_adds_the_gold_answers_nll_beside_dpo():
    runs = _by_stage(EXAMPLES / "spin.yaml", ["spin.sft_weight=0.5"])
    dpo = runs["train_t1"].config["task_config"]["dpo"]
    assert dpo["loss_type"] == ["sigmoid", "sft"] and dpo["loss_weights"] == [1.0, 0.5]


def test_a_long_prompt_loses_its_beginning(tiny_assets):
    from transformers import AutoTokenizer

    from runtime.tasks.dpo import clip_prompt

    tok = AutoTokenizer.from_pretrained(tiny_assets / "tiny-lm")
    long = " ".join(str(i) for i in range(60)) + " What is 2 + 3?"
    clipped = clip_prompt(tok, long, 12)
    assert len(tok(clipped, add_special_tokens=False)["input_ids"]) == 12
    assert clipped.endswith("What is 2 + 3?") and long.endswith(clipped)
    assert clip_prompt(tok, "What is 2 + 3?", 12) == "What is 2 + 3?"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_tiny_spin_two_iterations_end_to_end(tmp_path, tiny_assets):
    spec = tiny_example("spin-tiny", tmp_path, tiny_assets)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "spin-tiny")}
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    run = {name: Path(r["run_dir"]) for name, r in rows.items()}
    cfg = {name: json.loads((d / "run.json").read_text()) for name, d in run.items()}
    model_of = {name: str(d / "checkpoints/final") for name, d in run.items()}

    # iteration t generates with model_t, trains from model_t against model_t
    assert cfg["generate_t0"]["task_config"]["model"]["name_or_path"] == model_of["sft"]
    assert cfg["generate_t1"]["task_config"]["model"]["name_or_path"] == model_of["train_t0"]
    for t, start in ((0, "sft"), (1, "train_t0")):
        tc = cfg[f"train_t{t}"]["task_config"]
        assert tc["model"]["name_or_path"] == tc["reference"]["name_or_path"] == model_of[start]
    assert cfg["train_t0"]["training"]["lr"] == 1e-4 and cfg["train_t1"]["training"]["lr"] == 5e-5

    gold = {r["prompt"]: r["completion"] for r in _jsonl(tiny_assets / "tiny-chat/train.jsonl")}
    for t in (0, 1):
        generated = _jsonl(run[f"generate_t{t}"] / "outputs/generations.jsonl")
        generations = {g["prompt"]: g["generations"] for g in generated}
        assert len(generated) == 256  # prompt_fraction 0.5 of 512
        new = _jsonl(run[f"pairs_t{t}"] / "outputs/new_pairs.jsonl")
        assert new, "the SFT model should still get some arithmetic wrong"
        for pair in new:  # rejected = model_t's own answer, chosen = the gold one
            assert pair["chosen"] == gold[pair["prompt"]] and pair["rejected"] in generations[pair["prompt"]]
            assert pair["rejected"].strip() != pair["chosen"].strip()
        assert metrics(rows[f"pairs_t{t}"])["new_pairs"] == len(new)
    prompts0 = {g["prompt"] for g in _jsonl(run["generate_t0"] / "outputs/generations.jsonl")}
    prompts1 = {g["prompt"] for g in _jsonl(run["generate_t1"] / "outputs/generations.jsonl")}
    assert prompts0 != prompts1  # each iteration drew its own half
    # iteration 1 trains on its own pairs plus iteration 0's (current_and_previous)
    pairs1 = _jsonl(run["pairs_t1"] / "outputs/pairs.jsonl")
    expected = _jsonl(run["pairs_t1"] / "outputs/new_pairs.jsonl") + _jsonl(run["pairs_t0"] / "outputs/new_pairs.jsonl")
    assert Counter(json.dumps(p, sort_keys=True) for p in pairs1) == Counter(
        json.dumps(p, sort_keys=True) for p in expected)
    assert cfg["train_t1"]["task_config"]["pairs"]["path"] == str(run["pairs_t1"] / "outputs/pairs.jsonl")

    # one timeline across iterations: model 0 = start, t+1 = after iteration t
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "runs" / "spin-tiny" / "timeline"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("spin/margins")] == [1, 2]
    assert [e.step for e in acc.Scalars("spin/heldout/exact_match")] == [0, 1, 2]
    assert [e.step for e in acc.Scalars("spin/data/pairs")] == [1, 2]
    assert acc.Scalars("spin/margins")[1].value == pytest.approx(metrics(rows["train_t1"])["rewards/margins"])
    assert acc.Scalars("spin/rewards/real") and acc.Scalars("spin/rewards/generated") and acc.Scalars("spin/accuracy")

    from launch.ledger import Ledger
    from launch.tb_farm import farm

    with Ledger(str(tmp_path / "runs"), create=False) as ledger:
        logdir = farm(ledger.runs("spin-tiny"), tmp_path / "farm")
    assert (logdir / "timeline").resolve() == tmp_path / "runs" / "spin-tiny" / "timeline"
    # one HParams row per model, its figures under their roles, so iterations line up
    row = EventAccumulator(str(logdir / "hparams" / "model=2"))
    row.Reload()
    assert row.Scalars("~evaluate/exact_match")[0].value == pytest.approx(metrics(rows["evaluate_t1"])["exact_match"])
    assert row.Scalars("~train/rewards/margins")[0].value == pytest.approx(metrics(rows["train_t1"])["rewards/margins"])
    assert b"model" in b"".join(row.PluginTagToContent("hparams").values())

    code, out, _ = run_cli("report", "spin-tiny", "--root", tmp_path / "runs")
    assert code == 0 and "## SPIN per iteration" in out
    md = (tmp_path / "runs" / "spin-tiny" / "report" / "report.md").read_text()
    start = metrics(rows["evaluate_start"])
    last = metrics(rows["evaluate_t1"])
    assert "| - | 0 | " in md and f"{start['exact_match']:.4g}" in md.split("| - | 0 |")[1].split("\n")[0]
    assert f"{last['exact_match']:.4g}" in md.split("| - | 2 |")[1].split("\n")[0]
    assert (tmp_path / "runs" / "spin-tiny" / "report" / "spin_iterations.png").stat().st_size > 1000


def test_pairs_keep_the_models_wrong_answers_and_the_earlier_iterations(tmp_path):
    from tests.launch_helpers import run_task

    gens = tmp_path / "generations.jsonl"
    gens.write_text("".join(json.dumps(r) + "\n" for r in [
        {"prompt": "a?", "generations": ["1"], "completion": "2"},      # wrong: a pair
        {"prompt": "b?", "generations": ["3 "], "completion": "3"},     # right: nothing to learn
        {"prompt": "c?", "generations": ["  "], "completion": "4"},     # empty: no tokens to push down
        {"prompt": "d?", "generations": ["", "5"], "completion": "6"},  # the first non-empty answer
    ]))
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text(json.dumps({"prompt": "z?", "chosen": "0", "rejected": "9"}) + "\n")
    outputs = {"pairs": "pairs.jsonl", "new_pairs": "new.jsonl", "metrics": "metrics.json"}
    done = run_task(tmp_path / "run", "spin_pairs", {"generations": str(gens), "answer_field": "completion",
                                                    "previous": [str(earlier)]}, outputs)
    assert done.returncode == 0, done.stderr
    new = _jsonl(tmp_path / "run" / "new.jsonl")
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in new] == [("a?", "2", "1"), ("d?", "6", "5")]
    assert [p["prompt"] for p in _jsonl(tmp_path / "run" / "pairs.jsonl")] == ["a?", "d?", "z?"]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (m["identical_to_gold"], m["empty_answers"], m["previous_pairs"]) == (1, 1, 1)

    done = run_task(tmp_path / "half", "spin_pairs", {"generations": str(gens), "answer_field": "completion",
                                                      "previous": [str(earlier)],
                                                      "downsample": 0.5, "sample_seed": 3}, outputs)
    assert done.returncode == 0 and len(_jsonl(tmp_path / "half" / "pairs.jsonl")) == 1
