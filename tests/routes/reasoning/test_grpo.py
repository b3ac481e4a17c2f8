"""GRPO: the route's rewards on hand-made completions, the gold answers checked against the
checker, the spec's bad input, the plan's wiring (STaR -> GRPO, GRPO from the base model),
the settings as TRL's GRPOConfig reads them, and the tiny grpo kind end to end with its
reward curve read back from TensorBoard and its report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler import compile
from runtime.core.errors import TaskInputError
from runtime.reasoning.rewards import answer_reward, check_golds, format_reward, reward_functions
from specs import SpecError, load_spec
from specs.kinds.reasoning import AnswerChecker, FormatReward
from specs.tasks import RunConfig
from specs.tasks.reasoning import ReasoningRewardOptions
from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, status, tiny_example

NUMERIC = AnswerChecker(type="numeric")


@pytest.mark.parametrize(("chain", "gold", "right", "shaped"), [
    ("3 + 4 = 7. The answer is 7.", "3 + 4 = 7 #### 7", 1.0, 1.0),
    ("3 + 4 = 7. The answer is 7.", "7", 1.0, 1.0),
    ("3 + 4 = 8. The answer is 8.", "7", 0.0, 1.0),          # well formed, wrong
    ("3 + 4 = 7, so 7", "7", 1.0, 0.0),                        # right by the last number, no stated answer
    ("The answer is 7.\nQ: What is 1 + 1?", "7", 1.0, 0.0),   # text after the answer
    ("The answer is 1,000.", "1000", 1.0, 1.0),
    ("", "7", 0.0, 0.0),
    ("The answer is", "7", 0.0, 0.0),                          # malformed: no answer after the phrase
    ("The answer is 5.\nQ: What is 1 + 1?\nA: The answer is 2.", "2", 0.0, 0.0),  # scored by its own answer
    ("1 + The answer is The answer is - = = =", "1", 0.0, 0.0),  # the format hack a weak model learnt
    ("The answer is five.", "5", 0.0, 0.0),                    # no number for the numeric checker
])
def test_answer_and_format_rewards_on_hand_made_chains(chain, gold, right, shaped):
    assert answer_reward(chain, gold, NUMERIC, "answer") == right
    assert format_reward(chain, "answer", NUMERIC) == shaped


def test_the_think_template():
    good = "<think>3 + 4 = 7</think> <answer>7</answer>"
    assert format_reward(good, "think", NUMERIC) == 1.0 and answer_reward(good, "7", NUMERIC, "think") == 1.0
    assert format_reward("<think>3 + 4</think> 7", "think", NUMERIC) == 0.0           # no answer tags
    assert format_reward(good + " more", "think", NUMERIC) == 0.0                     # text after the answer
    assert format_reward("<think>x</think><answer>seven</answer>", "think", NUMERIC) == 0.0
    assert format_reward("<think>x</think><answer>Paris</answer>", "think", AnswerChecker(type="exact")) == 1.0
    assert answer_reward("<think>7</think>", "7", NUMERIC, "think") == 0.0   # the answer must be tagged
    assert format_reward(good, "none", NUMERIC) == 0.0


def test_reward_functions_read_the_gold_column_and_carry_the_format_weight():
    opts = ReasoningRewardOptions(checker=NUMERIC, format=FormatReward(template="answer", weight=0.25))
    functions, weights = reward_functions(opts, ["3 + 4 = 7 #### 7", "2"])
    assert [f.__name__ for f in functions] == ["answer", "format"] and weights == [1.0, 0.25]
    completions = ["The answer is 7.", "so 2", [{"role": "assistant", "content": "The answer is 2."}]]
    assert functions[0](completions=completions, gold=["7", "2", "3"]) == [1.0, 1.0, 0.0]
    assert functions[1](completions=completions, gold=["7", "2", "3"]) == [1.0, 0.0, 1.0]
    plain, w = reward_functions(opts.model_copy(update={"format": FormatReward(template="none")}), ["7"])
    assert [f.__name__ for f in plain] == ["answer"] and w == [1.0]


def test_gold_answers_that_do_not_fit_the_checker_are_refused_with_the_rows():
    check_golds(["1 + 1 = 2 #### 2", "3/4", "1,000"], NUMERIC)
    with pytest.raises(TaskInputError) as exc:
        check_golds(["2", "Paris", "1 + 1 #### two"], NUMERIC)
    message = str(exc.value)
    assert "2 of 3 gold answers do not fit the numeric checker" in message
    assert "row 2: 'Paris' is not a number" in message and "row 3: 'two'" in message
    assert "data.completion_field" in message and "exact" in message
    check_golds(["Paris"], AnswerChecker(type="exact"))
    with pytest.raises(TaskInputError, match="sympy"):
        check_golds(["x +* 1"], AnswerChecker(type="sympy"))


def spec_problems(path: Path, *overrides: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_spec(path, list(overrides))
    return [str(p) for p in exc.value.problems]


def test_a_group_size_that_does_not_divide_the_batch_is_refused():
    found = spec_problems(EXAMPLES / "grpo-tiny.yaml", "grpo.group_size=3")
    assert any("training.global_batch_size" in p and "not a multiple of the group size 3" in p
               and "e.g. 6 or 9" in p for p in found), found
    staged = spec_problems(EXAMPLES / "reasoning_grpo.yaml", "stages.grpo.training.global_batch_size=100")
    assert any("stages.grpo.training.global_batch_size" in p and "group size 8" in p for p in staged), staged
    assert any("group_size" in p for p in spec_problems(EXAMPLES / "grpo-tiny.yaml", "grpo.group_size=1"))


def test_plan_chains_star_then_grpo_and_grpo_from_the_base_model():
    runs = {r.name: r for r in compile(load_spec(EXAMPLES / "reasoning_grpo.yaml")).runs}
    grpo = runs["grpo"]
    tc = grpo.config["task_config"]
    assert tc["model"]["name_or_path"] == runs["sft_t1"].config["outputs"]["model"]
    assert tc["few_shot"] == 0 and tc["reward"] == "reasoning" and tc["reward_options"]["checker"]["type"] == "numeric"
    assert grpo.config["training"]["max_steps"] == 500 and grpo.resources["gpus_per_node"] == 8
    assert grpo.config["coordinates"]["role"] == "grpo" and grpo.config["task_config"]["timeline"]["step"] == 3
    assert runs["evaluate_grpo"].config["task_config"]["model"]["name_or_path"] == grpo.config["outputs"]["model"]
    assert runs["plan_solve"].config["task_config"]["planner"]["name_or_path"] == grpo.config["outputs"]["model"]
    zero = {r.name: r for r in compile(load_spec(EXAMPLES / "reasoning_grpo.yaml", [
        "reasoning.grpo.start=base"])).runs}
    tc = zero["grpo"].config["task_config"]
    assert tc["model"]["name_or_path"] == "Qwen/Qwen2.5-1.5B-Instruct" and tc["few_shot"] == 4
    assert tc["exemplars"]["path"] == "/datasets/gsm8k/train.jsonl"
    none = {r.name for r in compile(load_spec(EXAMPLES / "reasoning_grpo.yaml", [
        "reasoning.bootstrap.iterations=0"])).runs}
    assert none == {"evaluate_start", "grpo", "evaluate_grpo", "plan_solve"}


def test_a_rehearsal_answers_in_pairs_through_transformers_without_gpus():
    from compiler.rehearsal import Rehearsal

    rehearsal = Rehearsal()
    spec = load_spec(EXAMPLES / "reasoning_grpo.yaml", ["reasoning.grpo.backend=vllm"])
    run = next(r for r in compile(spec, rehearsal=rehearsal).runs if r.name == "grpo")
    g = run.config["task_config"]["grpo"]
    assert (g["group_size"], g["backend"], g["max_completion_length"]) == (2, "hf", 16)
    assert run.config["training"]["global_batch_size"] % g["group_size"] == 0
    assert any("GRPO answers in groups of 2" in note for note in rehearsal.notes())


def test_the_settings_reach_trls_grpo_config(tmp_path):
    from trl import GRPOConfig

    from runtime.tasks.grpo import config_arguments
    from specs.tasks.generic import GRPOTask

    plan = compile(load_spec(EXAMPLES / "reasoning_grpo.yaml", ["reasoning.grpo.backend=hf"]), base_dir=str(tmp_path))
    run = RunConfig.model_validate(next(r for r in plan.runs if r.name == "grpo").config)
    assert isinstance(run.task_config, GRPOTask)
    run = run.model_copy(update={"deepspeed_config": None, "world_size": 8})
    kwargs = config_arguments(run, run.task_config, [1.0, 0.1])
    assert kwargs["gradient_accumulation_steps"] == 2  # 256 answers = 16 per micro batch x 8 GPUs x 2
    kwargs.pop("accelerator_config")  # the launched process configures accelerate first; this test does not
    args = GRPOConfig(**kwargs)
    assert (args.num_generations, args.beta, args.epsilon, args.epsilon_high) == (8, 0.0, 0.2, 0.28)
    assert (args.loss_type, args.scale_rewards, args.max_completion_length) == ("dapo", "group", 512)
    assert args.mask_truncated_completions and args.reward_weights == [1.0, 0.1] and not args.use_vllm
    assert args.steps_per_generation == 2 and args.generation_batch_size % args.num_generations == 0


@pytest.mark.slow
def test_grpo_kind_end_to_end_reward_curve_and_report(tmp_path, tiny_assets):
    spec = tiny_example("grpo-tiny", tmp_path, tiny_assets)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "grpo-tiny")}
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    m = metrics(rows["grpo"])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(rows["grpo"]["run_dir"]) / "tb"))
    acc.Reload()
    reward = [(e.step, e.value) for e in acc.Scalars("train/reward")]
    assert [s for s, _ in reward] == [1, 2, 3, 4]  # logging_steps 1, max_steps 4
    assert m["reward"] == pytest.approx(sum(v for _, v in reward) / 4)
    assert m["reward_first"] == pytest.approx(reward[0][1]) and m["reward_last"] == pytest.approx(reward[-1][1])
    answer = [e.value for e in acc.Scalars("train/rewards/answer/mean")]
    shaped = [e.value for e in acc.Scalars("train/rewards/format/mean")]
    for total, a, f in zip((v for _, v in reward), answer, shaped, strict=True):
        assert total == pytest.approx(a + 0.1 * f, abs=1e-5)  # the format reward's weight
    zero = [e.value for e in acc.Scalars("train/frac_reward_zero_std")]
    assert all(0 <= z <= 1 for z in zero) and m["frac_reward_zero_std"] == pytest.approx(sum(zero) / 4)
    for tag in ("train/kl", "train/completions/mean_length", "train/clip_ratio/region_mean"):
        assert tag in acc.Tags()["scalars"]
    run = json.loads((Path(rows["grpo"]["run_dir"]) / "run.json").read_text())
    assert run["deepspeed_config"] and run["world_size"] == 2
    assert Path(rows["grpo"]["run_dir"], "checkpoints", "final", "config.json").exists()
    assert {"greedy_accuracy", "majority_accuracy"} <= set(metrics(rows["evaluate"]))
    code, out, _ = run_cli("report", "grpo-tiny", "--root", tmp_path / "runs")
    assert code == 0 and "## GRPO" in out and "zero-variance groups" in out
    assert (tmp_path / "runs" / "grpo-tiny" / "report" / "grpo_rewards.png").stat().st_size > 1000
