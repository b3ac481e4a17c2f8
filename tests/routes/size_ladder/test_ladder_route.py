"""Route size_ladder: the full-scale plan, the harness task configs per intervention, the
best-of-n rule verifier, the ladder's arithmetic on known inputs, and the tiny ladder end
to end through lm-evaluation-harness with the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from compiler import compile
from runtime.size_ladder.arithmetic import ladder, mean_with_stderr
from runtime.size_ladder.harness import filters, local_task, named_task
from runtime.size_ladder.verifiers import pick_by_rule, question_of, rule_score
from specs import load_spec
from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, status, tiny_example


def test_full_scale_example_sizes_gpus_by_parameters():
    plan = compile(load_spec(EXAMPLES / "size_ladder.yaml"))
    cells = [r for r in plan.runs if r.stage_type == "evaluate"]
    assert len(cells) == 7 * 4 and {r.task for r in cells} == {"benchmark"}
    gpus = {}
    for r in cells:
        gpus[r.coordinates["model"]] = r.resources["gpus_per_node"]
    assert gpus == {"q0.5b": 1, "q1.5b": 1, "q3b": 1, "q7b": 1, "q14b": 1, "q32b": 2, "q72b": 4}
    agg = plan.runs[-1]
    assert agg.task == "ladder_aggregate" and set(agg.depends_on) == {r.id for r in cells}
    sc = next(r for r in cells if r.name == "eval_q7b_sc8").config["task_config"]["intervention"]
    assert (sc["type"], sc["n"], sc["temperature"]) == ("self_consistency", 8, 0.7)


LOCAL = {"name": "add", "path": "/data/add.jsonl", "output_type": "generate_until",
         "prompt_template": "Q: {{question}}", "answer_field": "answer", "choices_field": None,
         "answer_extractor": "last_number", "metric": "exact_match", "num_fewshot": 0}


def test_harness_configs_per_intervention():
    plain = local_task("math", LOCAL, {"type": "none", "n": 1, "temperature": 0.0})
    assert plain["task"] == "math__add" and plain["dataset_path"] == "json"
    assert plain["dataset_kwargs"] == {"data_files": {"test": "/data/add.jsonl"}}
    assert plain["doc_to_text"] == "Q: {{question}}" and plain["generation_kwargs"]["do_sample"] is False
    assert [f["name"] for f in plain["filter_list"]] == ["flexible", "strict"] and plain["repeats"] == 1
    sc = local_task("math", LOCAL, {"type": "self_consistency", "n": 5, "temperature": 0.7})
    assert "step by step" in sc["doc_to_text"] and sc["repeats"] == 5
    assert sc["generation_kwargs"]["do_sample"] is True and sc["generation_kwargs"]["temperature"] == 0.7
    vote = sc["filter_list"][-1]
    assert vote["name"] == "flexible-maj" and [s["function"] for s in vote["filter"]] == [
        "regex", "majority_vote", "take_first"]
    assert filters("last_number", False)[0]["filter"][0]["group_select"] == -1  # the last number
    from runtime.size_ladder.benchmark import extract
    from runtime.size_ladder.harness import EXTRACTORS

    assert extract("  Paris\nis the capital ", EXTRACTORS["none"]) == "Paris\nis the capital"  # spans lines
    # a harness task keeps its own filters and gains a majority-vote twin of each
    shipped = {"task": "gsm8k", "output_type": "generate_until", "doc_to_text": "Q: {{question}}", "tag": ["math"],
               "filter_list": [{"name": "strict-match", "filter": [{"function": "regex", "regex_pattern": "#### (.*)"},
                                                                   {"function": "take_first"}]}]}
    twin = named_task(shipped, {"type": "self_consistency", "n": 3, "temperature": 0.5})
    assert [f["name"] for f in twin["filter_list"]] == ["strict-match", "strict-match-maj"] and "tag" not in twin
    assert named_task(shipped, {"type": "none", "n": 1, "temperature": 0.0}) == shipped


def test_rule_verifier_prefers_correct_arithmetic_and_a_stated_answer():
    assert rule_score("3 + 4 = 7. The answer is 7.") == 2.0
    assert rule_score("3 + 4 = 8. The answer is 8.") == 1.0
    assert rule_score("12 - 5 = 7 and 7 * 2 = 15") == 0.5
    assert rule_score("The answer is Paris.") == 1.0  # no equation to disagree with
    assert pick_by_rule(["3 + 4 = 8", "3 + 4 = 7", "3 + 4 = 7. The answer is 7."]) == 2
    assert pick_by_rule(["no numbers", "neither"]) == 0  # ties: the first


def test_rule_verifier_wants_the_questions_numbers_and_the_equations_answer():
    prompt = "Q: What is 2 + 2?\nA: 2 + 2 = 4. The answer is 4.\n\nQ: What is 3 + 4?\nA:"
    question = question_of(prompt)
    assert question == "Q: What is 3 + 4?\nA:"  # the few-shot example's numbers do not count
    assert rule_score("3 + 4 = 7. The answer is 7.", question) == 3.0
    assert rule_score("2 + 2 = 4. The answer is 4.", question) == 2.0  # holds, but another question
    assert rule_score("3 + 4 = 7. The answer is 8.", question) == 2.0  # states another number
    assert rule_score("3 + 4 = 7, 7 - 3 = 4. The answer is 4.", question) == 3.0  # 7 is an earlier result
    assert rule_score("3 + 4 = 7, 7 * 2 = 14. The answer is 14.", question) == 2.75  # 2 is nowhere
    assert pick_by_rule(["2 + 2 = 4. The answer is 4.", "3 + 4 = 7. The answer is 8.",
                         "3 + 4 = 7. The answer is 7."], prompt) == 2


def test_mean_with_stderr_of_tasks():
    mean, se = mean_with_stderr([(0.6, 0.03), (0.4, 0.04)])
    assert mean == pytest.approx(0.5) and se == pytest.approx(0.025)  # sqrt(0.03^2 + 0.04^2) / 2


def test_ladder_arithmetic_on_known_inputs():
    def cell(model, size, iv, math_score, se, **extra):
        return {"model": model, "size": size, "intervention": iv, "type": {"none": "none"}.get(iv, "self_consistency"),
                "metrics": {"ability/math": math_score, "ability/math_stderr": se, **extra}}

    rows = {(r.intervention, r.model): r for r in ladder([
        cell("s", 1e9, "none", 0.2, 0.03), cell("l", 7e9, "none", 0.8, 0.04),
        cell("s", 1e9, "sc", 0.3, 0.04, **{"pass_at_n/math": 0.5}), cell("l", 7e9, "sc", 0.9, 0.03)])}
    assert rows[("none", "s")].retention == pytest.approx(0.25) and rows[("none", "l")].retention == 1.0
    assert rows[("sc", "s")].retention == pytest.approx(0.3 / 0.9)
    assert rows[("sc", "s")].gain == pytest.approx(0.1) and rows[("sc", "s")].gain_stderr == pytest.approx(0.05)
    assert rows[("none", "s")].gain is None and rows[("sc", "s")].pass_at_n == 0.5
    assert rows[("sc", "l")].pass_at_n is None and math.isclose(rows[("sc", "l")].gain or 0, 0.1)


@pytest.mark.slow
def test_tiny_ladder_end_to_end_with_report(tmp_path, tiny_assets):
    spec = tiny_example("size_ladder-tiny", tmp_path, tiny_assets)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes", "--allow-dirty")
    assert code == 0, err
    rows = {r["name"]: r for r in status(tmp_path / "runs", "size-ladder-tiny")}
    assert len(rows) == 15 and {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    plain = metrics(rows["eval_tiny-l_none"])
    assert {"ability/math", "ability/logic"} <= set(plain)  # the choice task runs under plain decoding
    assert 0.0 <= plain["ability/logic"] <= 1.0 and plain["chat_template"] is True
    assert "task/arithmetic__add/exact_match,strict" in plain and "task/arithmetic__add/exact_match,flexible" in plain
    bo = metrics(rows["eval_tiny-s_bo4"])
    assert "ability/logic" not in bo and bo["task/arithmetic__add/score_is"] == "best_of_n"
    logged = [json.loads(x) for x in Path(rows["eval_tiny-s_bo4"]["run_dir"], "outputs/samples.jsonl")
              .read_text().splitlines()]
    samples = [s for s in logged if s["task"] == "arithmetic__add"]
    assert len(samples) == 16 and all(len(s["responses"]) == 4 and 0 <= s["chosen"] < 4 for s in samples)
    hits = [s["answers"][s["chosen"]].replace(",", "").strip().lower() == str(s["target"]).lower() for s in samples]
    assert bo["task/arithmetic__add/score"] == pytest.approx(sum(hits) / len(hits))
    maths = [s for s in logged if s["task"].startswith("arithmetic__")]  # add and words: the math ability
    oracle = [any(a.replace(",", "").strip().lower() == str(s["target"]).lower() for a in s["answers"])
              for s in maths]
    assert bo["pass_at_n/math"] == pytest.approx(sum(oracle) / len(oracle)) and bo["pass_at_n/math"] >= bo[
        "ability/math"]
    assert "Let's think step by step" in samples[0]["prompt"] and "<|im_start|>" in samples[0]["prompt"]

    ladder = json.loads(Path(rows["aggregate"]["run_dir"], "outputs/ladder.json").read_text())
    table = ladder["rows"]
    assert len(table) == 3 * 4 * 2 + 3  # math and fluency in every cell, logic under plain decoding only
    code, out, _ = run_cli("report", "size-ladder-tiny", "--root", tmp_path / "runs")
    assert code == 0 and "## The ladder" in out
    report = tmp_path / "runs" / "size-ladder-tiny" / "report"
    md = (report / "report.md").read_text()
    lo = metrics(rows["eval_tiny-s_none"])
    assert f"| logic | {lo['ability/logic']:.3f} ± {lo['ability/logic_stderr']:.3f} |" in md
    assert (report / "ladder_heatmap.png").stat().st_size > 1000 and (report / "ladder_lines.png").stat().st_size > 1000
    check_contamination_and_fluency(rows, ladder, md)
    assert (report / "ladder_contamination.png").stat().st_size > 1000


def check_contamination_and_fluency(rows: dict[str, dict], ladder: dict, md: str) -> None:
    """The report's contamination and fluency figures are what the per-sample logs recompute."""
    from runtime.size_ladder import probes

    assert metrics(rows["twins"])["twins"] == 48  # the fixture's word problems all trace
    plain = metrics(rows["eval_tiny-s_none"])
    samples = [json.loads(x) for x in Path(rows["eval_tiny-s_none"]["run_dir"], "outputs/samples.jsonl")
               .read_text().splitlines()]
    for part in ("original", "twin"):
        mine = [s for s in samples if s["task"] == f"contamination__{part}"]
        hits = [s["answers"][0].replace(",", "").strip().lower() == str(s["target"]).lower() for s in mine]
        assert len(mine) == 16 and plain[f"contamination/{part}"] == pytest.approx(sum(hits) / len(hits))
    assert plain["contamination/drop"] == pytest.approx(plain["contamination/original"] - plain["contamination/twin"])
    min_k = [json.loads(x) for x in Path(rows["eval_tiny-s_none"]["run_dir"], "outputs/min_k.jsonl")
             .read_text().splitlines()]
    assert len(min_k) == 16
    assert plain["min_k/auc"] == pytest.approx(probes.auc([r["original"] for r in min_k], [r["twin"] for r in min_k]))
    gap = sum(r["original"] - r["twin"] for r in min_k) / len(min_k)
    assert plain["min_k/gap"] == pytest.approx(gap)
    assert f"| none | tiny-s | 99k | {plain['contamination/original']:.3f} ± " in md
    assert f"{plain['min_k/gap']:.3f} ± {plain['min_k/gap_stderr']:.3f} | {plain['min_k/auc']:.3f} |" in md
    sampled = metrics(rows["eval_tiny-m_sc4"])  # fluency: distinct-2 over every free answer of the cell
    logged = [json.loads(x) for x in Path(rows["eval_tiny-m_sc4"]["run_dir"], "outputs/samples.jsonl")
              .read_text().splitlines()]
    answers = [r for s in logged if "answers" in s and not s["task"].startswith("contamination")
               for r in s["responses"]]
    assert sampled["fluency/distinct_2"] == pytest.approx(probes.distinct_n(answers, 2))
    assert 0 < sampled["ability/fluency"] <= 1
    judged = {(r["model"], r["intervention"]): r for r in ladder["fluency"]}
    assert judged[("tiny-m", "sc4")]["judge_perplexity"] > 1 and "## Fluency" in md
    assert "fluency" in {r["ability"] for r in ladder["rows"]}


def test_harness_registry_tasks_are_rewritten_or_refused():
    from lm_eval.tasks import TaskManager

    from runtime.core.errors import TaskInputError
    from runtime.size_ladder.benchmark import named
    from runtime.size_ladder.harness import extraction, score_filter

    tm = TaskManager()
    plain = {"type": "none", "name": "none", "n": 1, "temperature": 0.0}
    vote = {"type": "self_consistency", "name": "sc", "n": 8, "temperature": 0.7}
    gsm, output = named(tm, "math", "gsm8k", plain)
    assert output == "generate_until" and gsm["task"] == "math__gsm8k"
    assert [f["name"] for f in gsm["filter_list"]] == ["strict-match", "flexible-extract"]  # the harness's own
    assert score_filter(gsm) == "flexible-extract" and extraction(gsm)[1] == -1
    sc, _ = named(tm, "math", "gsm8k", vote)
    assert sc["repeats"] == 8 and "flexible-extract-maj" in [f["name"] for f in sc["filter_list"]]
    assert named(tm, "commonsense", "hellaswag", vote)[0] is None  # a scored-choice task: plain decoding only
    with pytest.raises(TaskInputError, match="group or tag"):
        named(tm, "knowledge", "mmlu", plain)
    with pytest.raises(TaskInputError, match="not a task lm-evaluation-harness knows"):
        named(tm, "math", "gsm9k", plain)


def test_gains_are_over_the_intervention_of_type_none_whatever_its_name():
    cells = [{"model": "s", "size": 1, "intervention": "greedy", "type": "none",
              "metrics": {"ability/math": 0.2, "ability/math_stderr": 0.0}},
             {"model": "s", "size": 1, "intervention": "think", "type": "cot",
              "metrics": {"ability/math": 0.5, "ability/math_stderr": 0.0}}]
    rows = {r.intervention: r for r in ladder(cells)}
    assert rows["think"].gain == pytest.approx(0.3) and rows["greedy"].gain is None
    assert [r.intervention for r in ladder(cells)] == ["greedy", "think"]  # the spec's order
