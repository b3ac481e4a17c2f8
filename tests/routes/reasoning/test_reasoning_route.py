"""Route reasoning: answer checkers, chains (final answers, de-duplication, the
rationalisation prompt), the plan's iteration wiring, and the tiny bootstrap end to end
(two iterations, GRPO, the planner + solver evaluation in its plan and verify modes) with
the report and the timeline. The verify loop itself: test_verify.py; GRPO: test_grpo.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler import compile
from runtime.reasoning import chains
from runtime.reasoning.checkers import check, parse_number
from specs import load_spec
from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, status, tiny_example

NUMERIC = {"type": "numeric", "tolerance": 1e-6}


@pytest.mark.parametrize(("text", "value"), [("1,000", 1000.0), ("1e3", 1000.0), ("3/4", 0.75), ("$5", 5.0),
                                             ("50%", 0.5), ("-2.5", -2.5), (" 7. ", 7.0), ("seven", None),
                                             ("1/0", None)])
def test_numbers_as_people_write_them(text, value):
    assert parse_number(text) == value


def test_checkers():
    assert check("1,000", "1000", NUMERIC) and check("1e3", "1000", NUMERIC) and check("0.75", "3/4", NUMERIC)
    assert not check("1001", "1000", NUMERIC) and check("1000.0004", "1000", {"type": "numeric", "tolerance": 1e-6})
    assert not check("abc", "1000", NUMERIC)
    assert check(" Paris. ", "paris", {"type": "exact"}) and not check("Lyon", "paris", {"type": "exact"})
    assert check("answer: B)", "b", {"type": "regex", "regex": r"answer: ([A-E])"})
    assert check("x*(x+1)", "x**2 + x", {"type": "sympy"}) and check("2^3", "8", {"type": "sympy"})
    assert not check("x+2", "x+1", {"type": "sympy"})


def test_final_answers_and_clean_chains():
    chain = "3 + 4 = 7. Then 7 * 2 = 14. The answer is 14.\nQ: What is 1 + 1?"
    assert chains.final_answer(chain) == "14" and chains.clean(chain) == "3 + 4 = 7. Then 7 * 2 = 14. The answer is 14."
    assert chains.final_answer("so we get 12 apples, then 15") == "15" and chains.final_answer("no idea") == ""
    assert chains.gold_parts("3 + 4 = 7 #### 7") == ("3 + 4 = 7", "7") and chains.gold_parts("7") == (None, "7")


def test_dedupe_by_text_and_by_equations():
    c = ["3 + 4 = 7. The answer is 7.", "3+4=7, so the answer is 7", "The answer is 7.", "the answer is  7."]
    assert chains.dedupe(c, "equations") == [c[0], c[2]]  # same equations; same text up to case and spaces
    assert chains.dedupe(c, "exact") == c[:3]
    assert chains.dedupe(c, "none") == c


def test_rationalisation_prompt_gives_the_answer_and_the_kept_chain_has_no_hint():
    hinted = chains.prompt("What is 3 + 4?", hint="7")
    assert "(The answer is 7; explain how to get it.)" in hinted and hinted.endswith("\nA:")
    plain = chains.prompt("What is 3 + 4?")
    assert "The answer is 7" not in plain
    ex = chains.exemplar({"q": "What is 1 + 1?", "a": "1 + 1 = 2 #### 2"}, "q", "a")
    assert ex == "Q: What is 1 + 1?\nA: 1 + 1 = 2. The answer is 2."
    assert ex in chains.prompt("What is 3 + 4?", [ex])


def test_plan_wires_the_iterations():
    runs = {r.name: r for r in compile(load_spec(EXAMPLES / "reasoning.yaml")).runs}
    base = "Qwen/Qwen2.5-1.5B-Instruct"
    final = {n: r.config["outputs"]["model"] for n, r in runs.items() if n.startswith("sft")}
    assert runs["evaluate_start"].config["task_config"]["options"]["few_shot"] == 4
    # exemplars come from the training file: the held-out answers never appear in a prompt
    assert runs["evaluate_start"].config["task_config"]["options"]["exemplars"]["path"] == \
        "/datasets/gsm8k/train.jsonl"
    assert runs["sample_t0"].config["task_config"]["few_shot"] == 4
    assert runs["sample_t0"].config["task_config"]["model"]["name_or_path"] == base
    for t in (1, 2, 3):
        tc = runs[f"sample_t{t}"].config["task_config"]
        assert tc["model"]["name_or_path"] == final[f"sft_t{t - 1}"] and tc["few_shot"] == 0
        assert runs[f"filter_t{t}"].config["task_config"]["rationalization"]["model"]["name_or_path"] == final[
            f"sft_t{t - 1}"]
        sft = runs[f"sft_t{t}"].config
        assert sft["task_config"]["model"]["name_or_path"] == base  # STaR restarts from the base model
        assert sft["task_config"]["data"]["path"] == runs[f"filter_t{t}"].config["outputs"]["data"]
        assert sft["training"]["max_steps"] == round(40 * 1.2**t)
        assert runs[f"evaluate_t{t}"].config["task_config"]["model"]["name_or_path"] == final[f"sft_t{t}"]
        assert runs[f"sample_t{t}"].shards == 4
    assert runs["plan_solve"].config["task_config"]["planner"]["name_or_path"] == final["sft_t3"]
    assert runs["plan_solve"].config["task_config"]["solver"]["name_or_path"] == "Qwen/Qwen2.5-72B-Instruct"
    cont = {r.name: r for r in compile(load_spec(EXAMPLES / "reasoning.yaml", [
        "reasoning.bootstrap.restart_from_base=false"])).runs}
    assert cont["sft_t2"].config["task_config"]["model"]["name_or_path"] == cont["sft_t1"].config["outputs"]["model"]


@pytest.mark.slow
def test_tiny_bootstrap_end_to_end_with_report(tmp_path, tiny_assets):
    spec = tiny_example("reasoning-tiny", tmp_path, tiny_assets)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "reasoning-tiny")}
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    run = {name: Path(r["run_dir"]) for name, r in rows.items()}
    gold = {json.loads(x)["question"]: json.loads(x)["answer"].split("####")[1].strip()
            for x in (tiny_assets / "tiny-arith/train.jsonl").read_text().splitlines()}
    for t in (0, 1):
        kept = [json.loads(x) for x in (run[f"filter_t{t}"] / "outputs/chains.jsonl").read_text().splitlines()]
        assert kept and all(r["format_version"] == 1 for r in kept)
        for r in kept:  # every kept chain reaches the gold answer (the checker's verdict), none carries a hint
            assert check(chains.final_answer(r["answer"]), gold[r["source_question"]], NUMERIC)
            assert "explain how to get it" not in r["answer"] and r["question"] == chains.prompt(r["source_question"])
            assert r["source"] in ("sample", "rationalization", "gold")
        samples = [r for r in kept if r["source"] != "gold"]
        assert all(r["provenance_iteration"] == str(t) for r in samples)
        m = metrics(rows[f"filter_t{t}"])
        assert m["data_size"] == len(kept) and 0 <= m["coverage"] <= 1 and m["questions"] == 96
    assert json.loads((run["sft_t1"] / "run.json").read_text())["training"]["max_steps"] == round(8 * 1.2)
    plan = metrics(rows["plan_solve"])
    assert {"solver_accuracy", "solver_with_plan_accuracy", "plan_acceptance", "planner_tokens"} <= set(plan)
    arms = ("small", "large", "plan_solve", "solve_verify")
    assert {f"{a}_{k}" for a in arms for k in ("accuracy", "small_tokens", "large_tokens")} <= set(plan)
    assert {"verifier_precision", "verifier_recall", "verify_rounds_used"} <= set(plan)
    # the tiny random models may write nothing; the large model still reads every chain it checks
    assert plan["small_large_tokens"] == 0 and plan["solve_verify_large_read_tokens"] > 0
    assert plan["large_accuracy"] == plan["solver_accuracy"] and 0 <= plan["verify_rounds_used"] <= 1
    answers = [json.loads(x) for x in (run["plan_solve"] / "outputs/predictions.jsonl").read_text().splitlines()]
    assert answers and all(1 <= len(a["verify"]["attempts"]) <= 2 and a["verify"]["attempts"][0]["chain"] == a["small"]
                           for a in answers)  # verify_rounds: 1; round 0 is the small model's chain alone
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "runs" / "reasoning-tiny" / "timeline"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("reasoning/heldout/greedy_accuracy")] == [0, 1, 2, 3]  # 3: after GRPO
    grpo = metrics(rows["grpo"])
    assert [(e.step, e.value) for e in acc.Scalars("reasoning/grpo/reward")] == [(3, pytest.approx(grpo["reward"]))]
    for tag in ("zero_variance_share", "completion_length", "kl", "clip_ratio", "answer_reward"):
        assert [e.step for e in acc.Scalars(f"reasoning/grpo/{tag}")] == [3], tag
    curve = EventAccumulator(str(run["grpo"] / "tb"))
    curve.Reload()
    assert [e.step for e in curve.Scalars("train/reward")] == [1, 2, 3, 4]  # the reward curve, per step
    grpo_run = json.loads((run["grpo"] / "run.json").read_text())
    assert grpo_run["task_config"]["model"]["name_or_path"] == str(run["sft_t1"] / "checkpoints" / "final")
    assert grpo_run["world_size"] == 2 and grpo_run["deepspeed_config"]
    assert [e.step for e in acc.Scalars("reasoning/data/coverage")] == [1, 2]
    assert [e.step for e in acc.Scalars("reasoning/sft_loss")] == [1, 2]
    code, out, _ = run_cli("report", "reasoning-tiny", "--root", tmp_path / "runs")
    assert code == 0 and "## Bootstrap iterations" in out and "## Planner + solver" in out and "## GRPO" in out
    md = (tmp_path / "runs" / "reasoning-tiny" / "report" / "report.md").read_text()
    assert "| solve + verify |" in md and "| small alone |" in md and "precision" in md
    assert (tmp_path / "runs" / "reasoning-tiny" / "report" / "reasoning_tradeoff.png").is_file()
    assert (tmp_path / "runs" / "reasoning-tiny" / "report" / "grpo_rewards.png").is_file()
    assert "| - | 3 |" in md and "grpo reward" in md
    f1 = metrics(rows["filter_t1"])
    assert f"| - | 2 | {f1['data_size']:.4g} | {f1['coverage']:.4g} |" in md
