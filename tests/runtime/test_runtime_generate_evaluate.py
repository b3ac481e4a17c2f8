"""The `generate` and `evaluate` tasks on the tiny fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.launch_helpers import metrics, run_cli, run_config, status

pytestmark = pytest.mark.slow


def gen_config(tmp_path: Path, assets: Path, **generation: object) -> Any:
    from runtime import routes  # noqa: F401  (the prompt styles)

    return run_config(tmp_path, "generate", {
        "model": {"name_or_path": str(assets / "tiny-lm"), "dtype": "fp32"},
        "prompts": {"path": str(assets / "tiny-chat" / "test.jsonl")},
        "generation": {"max_new_tokens": 6, "batch_size": 16, **generation}, "sample_seed": 0}, base_dir=Path("/"),
        tensorboard={"enabled": True, "log_dir": str(tmp_path / "tb")})


def test_sharded_generation_merges_in_order_and_resumes(tmp_path, tiny_assets, monkeypatch):
    from runtime.tasks import generate

    config = gen_config(tmp_path, tiny_assets, num_samples=2, temperature=0.8)
    for shard in (1, 0):
        monkeypatch.setenv("LABSPEC_SHARD", str(shard))
        monkeypatch.setenv("LABSPEC_NUM_SHARDS", "2")
        if shard == 0:  # shard 0 was killed after three prompts, mid-line
            part = tmp_path / "outputs" / "generations.shard0-of-2.jsonl"
            lines = []
            assert generate.run(config, config.task_config) == 0
            lines = part.read_text().splitlines()
            part.write_text("\n".join(lines[:3]) + "\n" + lines[3][:10])
            (tmp_path / "outputs" / ".shard0-of-2.done").unlink()
            (tmp_path / "outputs" / "generations.jsonl").unlink()
        assert generate.run(config, config.task_config) == 0
    merged = [json.loads(line) for line in (tmp_path / "outputs" / "generations.jsonl").read_text().splitlines()]
    assert [r["index"] for r in merged] == list(range(64))  # every prompt once, in order
    assert all(len(r["generations"]) == 2 and "completion" in r for r in merged)
    shard0 = (tmp_path / "outputs" / "generations.shard0-of-2.jsonl").read_text().splitlines()
    assert len(shard0) == 32 and len({json.loads(line)["index"] for line in shard0}) == 32
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb"))  # the last shard to finish logs the run's figures
    acc.Reload()
    assert acc.Scalars("~generate/prompts")[0].value == 64 and acc.Scalars("~generate/tokens_per_second")


def test_batched_greedy_generation_matches_one_prompt_at_a_time(tiny_assets):
    import torch

    from runtime.core.models import load_model, render_prompt
    from runtime.core.sampling import generate_batched
    from specs.sections import GenerationSettings
    from specs.tasks import ModelRef

    model, tok = load_model(ModelRef(name_or_path=str(tiny_assets / "tiny-lm"), dtype="fp32"), "/")
    prompts = [json.loads(line)["prompt"] for line in
               (tiny_assets / "tiny-chat" / "test.jsonl").read_text().splitlines()[:8]]
    batched = generate_batched(model, tok, prompts, GenerationSettings(max_new_tokens=6, batch_size=8))
    for prompt, answers in zip(prompts, batched, strict=True):
        enc = tok(render_prompt(tok, prompt), return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            seq = model.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
        assert answers == [tok.decode(seq[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()]


def evaluate_spec(tmp_path: Path, assets: Path, evaluation: str) -> Path:
    """An `evaluate` spec named ev on the tiny LM's chat questions, with this evaluation section."""
    spec = tmp_path / "ev.yaml"
    spec.write_text(f"""\
name: ev
kind: evaluate
output_root: {tmp_path / "runs"}
model: {{name_or_path: {assets / "tiny-lm"}, dtype: fp32}}
data: {{test: {assets / "tiny-chat" / "test.jsonl"}}}
resources: {{gpus_per_node: 0, cpus_per_task: 1, time: 10}}
launcher: python
evaluation:
{evaluation}""")
    return spec


def test_evaluate_reports_metrics_that_match_its_predictions(tmp_path, tiny_assets):
    spec = evaluate_spec(tmp_path, tiny_assets, """\
  metrics: [exact_match, accuracy, perplexity]
  normalizer: number
  answer_extractor: last_number
  max_samples: 24
  generation: {max_new_tokens: 6, batch_size: 12}
""")
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "ev")
    m = metrics(row)
    preds = [json.loads(line) for line in Path(row["run_dir"], "outputs", "predictions.jsonl").read_text()
             .splitlines()]
    assert len(preds) == m["samples"] == 24
    assert m["exact_match"] == sum(p["exact_match"] for p in preds) / 24
    assert m["accuracy"] == sum(p["correct"] for p in preds) / 24
    assert 1.0 < m["perplexity"] < 1e6
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(row["run_dir"], "tb")))
    acc.Reload()
    assert {"~eval/exact_match", "~eval/perplexity"} <= set(acc.Tags()["scalars"])  # single points sort last


def test_sampled_evaluation_repeats_with_the_specs_seed(tmp_path, tiny_assets):
    """Formula mining's extra samples come from an evaluate run: the same spec mines the same pairs."""
    spec = evaluate_spec(tmp_path, tiny_assets, """\
  metrics: [exact_match]
  max_samples: 24
  generation: {max_new_tokens: 6, batch_size: 12, temperature: 1.0}
""")
    answers = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        code, _, err = run_cli("launch", spec, "-o", f"name=ev-{name}", "-o", f"seed={seed}", "--executor", "local",
                               "--yes")
        assert code == 0, err
        (row,) = status(tmp_path / "runs", f"ev-{name}")
        answers[name] = [json.loads(line)["prediction"] for line in
                         Path(row["run_dir"], "outputs", "predictions.jsonl").read_text().splitlines()]
    assert answers["a"] == answers["b"] and answers["a"] != answers["c"]


def test_missing_models_and_other_versions_are_clear_errors(tmp_path, monkeypatch):
    from runtime.__main__ import main
    from runtime.core import models as data
    from runtime.core.errors import TaskInputError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TaskInputError, match=r"huggingface-cli download Qwen/Qwen2\.5-0\.5B"):
        data.require_model("Qwen/Qwen2.5-0.5B")
    with pytest.raises(TaskInputError, match="does not exist"):
        data.require_model(str(tmp_path / "nowhere"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(TaskInputError, match="not a model"):
        data.require_model(str(tmp_path / "folder"))
    (tmp_path / "run.json").write_text(json.dumps({"labspec_version": "9.0.0", "task": "sft"}))
    assert main([str(tmp_path)]) == 2
    assert main([str(tmp_path / "folder")]) == 2  # a run dir without run.json


def test_final_figures_join_the_runs_hparams_rows(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from runtime.core.tb import log_final

    sessions = [{"name": f"lr={lr}", "hparams": {"training.lr": lr}} for lr in (0.001, 0.003)]  # a shared run
    config = run_config(tmp_path / "run", "smoke", {"steps": 1, "checkpoint_every": 1, "step_seconds": 0, "value": 1},
                        tensorboard={"enabled": True, "log_hparams": True, "log_dir": str(tmp_path / "run" / "tb"),
                                     "sessions": sessions, "metric_prefix": "evaluate/"},
                        axes={"training.lr": 0.001}, stage="evaluate")
    log_final(config, {"accuracy": 0.5, "samples": 8, "bad": float("nan")}, "eval/", step=7)
    own = EventAccumulator(str(tmp_path / "run" / "tb"))
    own.Reload()
    assert [(e.step, e.value) for e in own.Scalars("~eval/accuracy")] == [(7, 0.5)]
    with pytest.raises(KeyError):  # no hparams in a run's own tb/: its rows are the point's sessions
        own.PluginTagToContent("hparams")
    for lr in (0.001, 0.003):
        acc = EventAccumulator(str(tmp_path / "hparams" / f"lr={lr}"))
        acc.Reload()
        assert acc.Scalars("~evaluate/accuracy")[0].value == 0.5 and "~evaluate/bad" not in acc.Tags()["scalars"]
        (content,) = acc.PluginTagToContent("hparams").values()
        assert b"training.lr" in content and f"lr={lr}".encode() in content


def test_hub_ids_stay_hub_ids_and_local_paths_resolve(tmp_path, monkeypatch, tiny_assets):
    from runtime.core import models as data
    from runtime.core.errors import TaskInputError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TaskInputError, match="hub is offline"):
        data.resolve_model("Qwen/Qwen2.5-0.5B", str(tmp_path))
    assert data.resolve_model("tiny-lm", str(tiny_assets)) == str(tiny_assets / "tiny-lm")


def test_only_complete_checkpoints_are_resumed(tmp_path):
    from runtime.core.training import last_checkpoint

    for step, complete in ((10, True), (20, True), (30, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-20")


def test_answer_extraction():
    from runtime.core.text import EXTRACTORS, NORMALIZERS

    assert EXTRACTORS["boxed"](r"so \boxed{\frac{1}{2}} done", None) == r"\frac{1}{2}"
    assert EXTRACTORS["last_number"]("x = 3, then 4", None) == "4"
    assert EXTRACTORS["regex"]("answer: none", r"answer: (\d+)?") == ""
    assert NORMALIZERS["number"]("first 3, finally 42.0") == "42"
