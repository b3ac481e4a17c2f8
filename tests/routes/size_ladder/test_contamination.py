"""Contamination-aware scores and fluency: perturbed twins of GSM8K-style items (recomputed
through their annotations; untraceable items left out and counted), Min-K% Prob and its AUC,
distinct-n, repetition and cut-off share, on hand-written inputs with known answers."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest

from runtime.size_ladder.probes import (
    auc,
    cut_off_share,
    distinct_n,
    mean_and_stderr,
    min_k_prob,
    repetition_rate,
)
from runtime.size_ladder.twins import ANNOTATION, Untraceable, evaluate, make_twin, twins

NATALIA = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many "
           "clips did Natalia sell altogether in April and May?",
           "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in "
           "April and May.\n#### 72")
WENG = ("Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she "
        "earn?",
        "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10."
        "\n#### 10")
BETTY = ("Betty needs $100 for a wallet. She has half of the money. Her parents give her $15, and her grandparents "
         "twice as much as her parents. How much more money does Betty need?",
         "Betty has 100/2 = $<<100/2=50>>50.\nHer grandparents give her 15*2 = $<<15*2=30>>30.\nShe needs "
         "100-50-30-15 = $<<100-50-30-15=5>>5 more.\n#### 5")


def numbers(text: str) -> list[Fraction]:
    return [Fraction(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


@pytest.mark.parametrize("item", [NATALIA, WENG, BETTY], ids=["natalia", "weng", "betty"])
def test_a_twin_changes_the_inputs_and_recomputes_every_step(item):
    question, rationale = item
    for seed in range(5):
        twin = make_twin(question, rationale, random.Random(seed))
        assert twin.question != question and twin.inputs and all(old != new for old, new in twin.inputs.items())
        steps = ANNOTATION.findall(twin.rationale)
        assert len(steps) == len(ANNOTATION.findall(rationale))
        for expression, result in steps:  # each annotation is right by its own arithmetic
            assert evaluate(expression) == Fraction(result)
        assert twin.rationale.endswith(f"#### {twin.answer}") and Fraction(steps[-1][1]) == Fraction(twin.answer)


def test_known_twins_by_hand():
    twin = make_twin(*NATALIA, random.Random(0))
    new = int(twin.inputs["48"])
    assert f" {new} of her friends" in twin.question and "half as many" in twin.question
    assert twin.answer == str(new + new // 2) and new % 2 == 0  # "half" stays whole: odd draws are refused
    assert f"<<{new}/2={new // 2}>>" in twin.rationale and f"<<{new}+{new // 2}={new + new // 2}>>" in twin.rationale
    twin = make_twin(*BETTY, random.Random(3))
    price, parents = Fraction(twin.inputs["100"]), Fraction(twin.inputs["15"])
    assert Fraction(twin.answer) == price - price / 2 - 2 * parents - parents >= 0


@pytest.mark.parametrize(("question", "rationale", "why"), [
    ("How many?", "It is 5.\n#### 5", "no calculator annotation"),
    ("3 apples and 4 pears", "3+4 = <<3+4=8>>8\n#### 8", "stated result is not what it computes"),
    ("3 and 4", "3+4=<<3+4=7>>7\n#### 9", "a final answer no step produces"),
    ("Some apples.", "2*3=<<2*3=6>>6\n#### 6", "no question number reaches the answer"),
    ("3 and 4", "3+4=<<3+4=7>>7", "no final answer"),
    ("Take 2 apples.", "2/(2-1)=<<2/(2-1)=2>>2\n#### 2", "keeps every step whole"),  # v/(v-1) is whole at 2 only
    ("21 pencils in bags of 3, each bag sold for 7 dollars.", "21/3=<<21/3=7>>7 bags.\n7*7=<<7*7=49>>49\n#### 49",
     "both the question's and an earlier step's"),  # which 7 is the price?
])
def test_untraceable_items_are_left_out_with_the_reason(question, rationale, why):
    with pytest.raises(Untraceable, match=why):
        make_twin(question, rationale, random.Random(0))


def test_a_file_of_items_gives_originals_twins_and_the_counts_left_out():
    rows = [{"question": q, "answer": a, "id": i} for i, (q, a) in enumerate([NATALIA, ("How many?", "5\n#### 5"),
                                                                               WENG, BETTY])]
    originals, made, left_out = twins(rows, "question", "answer", seed=0)
    assert [o["index"] for o in originals] == [t["index"] for t in made] == [0, 2, 3]
    assert [o["gold"] for o in originals] == ["72", "10", "5"] and [t["id"] for t in made] == [0, 2, 3]
    assert left_out == {"no calculator annotation": 1}
    assert twins(rows, "question", "answer", seed=0)[1] == made  # seeded: the same twins again


def test_min_k_prob_on_known_log_probabilities():
    logprobs = [-0.1, -5.0, -0.2, -3.0, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8]
    assert min_k_prob(logprobs, 0.2) == pytest.approx((-5.0 - 3.0) / 2)  # the lowest 2 of 10
    assert min_k_prob(logprobs, 0.1) == pytest.approx(-5.0)
    assert min_k_prob(logprobs, 1.0) == pytest.approx(sum(logprobs) / 10)
    assert min_k_prob([-2.0], 0.2) == -2.0  # at least one token
    with pytest.raises(ValueError):
        min_k_prob([], 0.2)


def test_auc_of_telling_originals_from_twins():
    assert auc([3.0, 4.0], [1.0, 2.0]) == 1.0 and auc([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert auc([1.0, 3.0], [2.0, 2.0]) == 0.5 and auc([2.0], [2.0]) == 0.5
    assert mean_and_stderr([1.0, 2.0, 3.0]) == pytest.approx((2.0, (1 / 3) ** 0.5))


def test_distinct_n_repetition_and_cut_off_on_known_strings():
    texts = ["the cat sat on the mat", "the cat sat"]
    assert distinct_n(texts, 1) == pytest.approx(5 / 9)  # the, cat, sat, on, mat of 9 words
    assert distinct_n(texts, 2) == pytest.approx(5 / 7)  # the cat x2, cat sat x2, sat on, on the, the mat
    assert repetition_rate(["a b c d a b c d"], n=4) == pytest.approx(1 / 5)  # a b c d repeats once of 5
    assert repetition_rate(["a b c", "x y z w v"], n=4) == 0.0
    assert repetition_rate(["go go go go go go"], n=2) == pytest.approx(4 / 5)
    assert cut_off_share([3, 64, 70, 10], 64) == 0.5 and cut_off_share([], 64) == 0.0


def test_a_math_file_without_annotations_is_refused_clearly(tmp_path):
    from tests.launch_helpers import run_task

    data = tmp_path / "plain.jsonl"
    data.write_text('{"question": "What is 2 + 3?", "answer": "5"}\n{"question": "And 4 + 4?", "answer": "8"}\n')
    done = run_task(tmp_path / "run", "ladder_twins", {"data": str(data), "question_field": "question",
                                                       "rationale_field": "answer", "seed": 0})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"ladder.contamination.task: no item of {data} can be traced (2 x no final answer (#### N))" in done.stderr
    assert "calculator annotations like <<48/2=24>>" in done.stderr


def test_a_missing_fluency_text_is_refused_clearly(tmp_path):
    from runtime.core.errors import TaskInputError
    from runtime.size_ladder.fluency import text_perplexity

    with pytest.raises(TaskInputError, match=r"ladder.fluency.text: .*missing.txt does not exist; name a human"):
        text_perplexity(None, None, "missing.txt", str(tmp_path))


def test_the_plan_gains_a_twins_stage_a_judge_and_probes_in_every_cell():
    from compiler import compile
    from specs import load_spec
    from tests.conftest import EXAMPLES

    runs = {r.name: r for r in compile(load_spec(EXAMPLES / "size_ladder-tiny.yaml")).runs}
    twins_run, judge = runs["twins"], runs["judge"]
    assert twins_run.config["task"] == "ladder_twins" and twins_run.launcher == "python"
    assert twins_run.config["task_config"]["data"].endswith("tiny-ladder/words.jsonl")
    cell = runs["eval_tiny-s_none"]
    probe = cell.config["task_config"]["contamination"]
    assert probe["originals"] == twins_run.config["outputs"]["originals"] and twins_run.id in cell.depends_on
    assert probe["task"]["answer_field"] == "gold" and probe["task"]["prompt_template"] == "Q: {{question}}\nA:"
    assert cell.config["task_config"]["fluency"] and cell.config["task_config"]["fluency_text"].endswith("human.txt")
    assert judge.config["task_config"]["model"]["name_or_path"].endswith("tiny-lm-wider")  # the largest by default
    assert {runs[f"eval_{m}_{iv}"].id for m in ("tiny-s", "tiny-m", "tiny-l") for iv in ("none", "cot", "sc4", "bo4")
            } == set(judge.depends_on)
    assert judge.id in runs["aggregate"].depends_on


@pytest.mark.parametrize(("override", "says"), [
    ("ladder.contamination.task=compare", "'compare' is multiple_choice: twins need answers generated"),
    ("ladder.contamination.task=gsm8k", "'gsm8k' is not a local task of the suites"),
    ("ladder.fluency.judge=huge", "'huge' is not a ladder model's name"),
    ("ladder.backend=vllm", "use backend hf with ladder.contamination or ladder.fluency"),
])
def test_probe_settings_are_checked_at_validation(override, says):
    from specs import load_spec
    from specs.errors import LabspecError
    from tests.conftest import EXAMPLES

    with pytest.raises(LabspecError, match=re.escape(says)):
        load_spec(EXAMPLES / "size_ladder-tiny.yaml", [override])
