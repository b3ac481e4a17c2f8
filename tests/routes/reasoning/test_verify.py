"""plan_solve's verify mode: the verdict parser, the solve -> verify -> retry loop's
bookkeeping on scripted small and large models (no real model), the arms of the task with
its models replaced, the bad-input messages, and the compiled run config."""

from __future__ import annotations

import re

import pytest

from compiler import compile
from runtime.reasoning import chains, plan_solve
from runtime.reasoning.verify import numbered, parse_verdict, retry_prompt, steps, verdict_prompt, verify_loop
from specs import SpecError, load_spec
from specs.tasks.reasoning import PlanSolveTask
from tests.conftest import EXAMPLES

NUMERIC = {"type": "numeric", "tolerance": 1e-6}


def words(text: str, who: str = "small") -> int:
    """The scripted tokenizer: a token per word."""
    return len(text.split())


@pytest.mark.parametrize(("text", "label", "step"), [
    ("Verdict: accept", "accept", None),
    (" accept", "accept", None),  # after the prompt's own "Verdict:"
    ("Verdict: Accept.", "accept", None),
    ("Verdict: reject, first wrong step: 3", "reject", 3),
    (" reject, first wrong step: 2\nVerdict: accept", "reject", 2),  # what goes on from "Verdict:" counts
    ("Reject. Step 3 is wrong.", "reject", 3),
    ("I would accept step 1 but... Verdict: reject, first wrong step: 2", "reject", 2),
    ("Verdict: rejected (step 9)", "reject", None),  # the chain has 4 steps
    ("Verdict: reject", "reject", None),
    ("Verdict: reject, first wrong step: 0", "reject", None),
    ("the steps look fine", "unclear", None),
    ("All steps are accepted.", "unclear", None),  # prose, not a verdict: only an explicit accept passes
    ("", "unclear", None),
])
def test_verdicts_are_parsed(text, label, step):
    verdict = parse_verdict(text, step_count=4)
    assert (verdict.label, verdict.step) == (label, step)
    assert verdict.accepted == (label == "accept")


def test_chains_are_numbered_by_sentence_and_line():
    chain = "It costs 3.5 dollars. Then 3.5 * 2 = 7!\nThe answer is 7.\nQ: What is 1 + 1?"
    assert steps(chain) == ["It costs 3.5 dollars.", "Then 3.5 * 2 = 7!", "The answer is 7."]
    assert numbered(chain) == "1. It costs 3.5 dollars.\n2. Then 3.5 * 2 = 7!\n3. The answer is 7."
    assert numbered("") == "(no steps)"
    asked = verdict_prompt("What is 3.5 * 2?", chain)
    assert "What is 3.5 * 2?" in asked and "2. Then 3.5 * 2 = 7!" in asked and asked.endswith("Verdict:")
    again = retry_prompt("What is 3.5 * 2?", chain, 2)
    assert again.startswith(chains.INSTRUCTION) and "step 2 is wrong" in again and again.endswith("\nA:")
    assert "has a mistake" in retry_prompt("What is 3.5 * 2?", chain, None)


class Scripted:
    """A model that answers each question's prompts from its own queue, in turn, and
    records every batch it was given."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = {q: list(answers) for q, answers in script.items()}
        self.batches: list[list[str]] = []

    def __call__(self, prompts: list[str]) -> list[str]:
        self.batches.append(list(prompts))
        return [self.script[self.question(p)].pop(0) for p in prompts]

    def question(self, prompt: str) -> str:
        found = [q for q in self.script if q in prompt]
        assert len(found) == 1, prompt
        return found[0]


Q = {f"What is {n} + {n}?": str(2 * n) for n in range(1, 7)}
RIGHT = {q: f"{q[8]} + {q[8]} = {g}. The answer is {g}." for q, g in Q.items()}
WRONG = {q: f"{q[8]} + {q[8]} = {int(g) + 1}. The answer is {int(g) + 1}." for q, g in Q.items()}
q1, q2, q3, q4, q5, q6 = Q
REJECT = "Verdict: reject, first wrong step: 1"


def scripted_loop(rounds: int = 2) -> tuple[list[dict], dict, Scripted, Scripted, Scripted]:
    small = Scripted({q1: [RIGHT[q1]],                           # right, accepted at once
                      q2: [WRONG[q2], RIGHT[q2]],                # wrong, rejected, fixed, accepted
                      q3: [WRONG[q3]] * 3,                       # wrong every round: the large model answers
                      q4: [RIGHT[q4]] * 2,                       # right, unclear verdict (a reject), accepted
                      q5: [WRONG[q5]],                           # wrong, accepted: the verifier's false positive
                      q6: [RIGHT[q6]] * 3})                      # right, rejected every round
    judge = Scripted({q1: ["Verdict: accept"], q2: [REJECT, "Verdict: accept"], q3: [REJECT] * 3,
                      q4: ["hmm, let me see", " accept"], q5: ["Verdict: accept"], q6: [REJECT] * 3})
    large = Scripted({q3: [RIGHT[q3]], q6: [RIGHT[q6]]})
    rows, summary = verify_loop(list(Q), list(Q.values()), small, judge, large, rounds, NUMERIC, words)
    return rows, summary, small, judge, large


def test_verify_loop_bookkeeping_on_scripted_models():
    rows, summary, small, judge, large = scripted_loop()
    by = {r["question"]: r for r in rows}
    assert [len(b) for b in small.batches] == [6, 4, 2] and [len(b) for b in judge.batches] == [6, 4, 2]
    assert [len(b) for b in large.batches] == [1 * 2]  # the still-rejected together, after the last round
    assert large.batches[0] == [chains.prompt(q3), chains.prompt(q6)]
    assert small.batches[0] == [chains.prompt(q) for q in Q]  # round 0: the plain chain-of-thought prompt
    retried = dict(zip([small.question(p) for p in small.batches[1]], small.batches[1], strict=True))
    assert "step 1 is wrong" in retried[q2] and WRONG[q2].split(".")[0] in retried[q2]
    assert "has a mistake" in retried[q4]  # the unclear verdict named no step
    assert [(r["answered_by"], r["correct"], r["retries"]) for r in rows] == [
        ("small", True, 0), ("small", True, 1), ("large", True, 2), ("small", True, 1), ("small", False, 0),
        ("large", True, 2)]
    assert [a["verdict"] for a in by[q4]["attempts"]] == ["unclear", "accept"]
    assert [(a["round"], a["correct"], a["step"]) for a in by[q2]["attempts"]] == [(0, False, 1), (1, True, None)]
    assert by[q3]["answer"] == RIGHT[q3] and by[q5]["answer"] == WRONG[q5]
    # 12 verified chains: accepted q1, q2@1, q4@1 (right) and q5 (wrong); right q1, q2@1, q4 x2, q6 x3
    assert summary["verifier_precision"] == pytest.approx(3 / 4)
    assert summary["verifier_recall"] == pytest.approx(3 / 7)
    assert summary["solve_verify_accuracy"] == pytest.approx(5 / 6)
    assert summary["verify_rounds_used"] == pytest.approx((0 + 1 + 2 + 1 + 0 + 2) / 6)
    assert summary["verify_large_answered"] == pytest.approx(2 / 6)
    assert summary["verify_unclear"] == pytest.approx(1 / 12)


def test_verify_loop_counts_each_models_tokens():
    rows, summary, *_ = scripted_loop()
    by = {r["question"]: r for r in rows}
    assert words(RIGHT[q1]) == 9  # "1 + 1 = 2. The answer is 2."
    assert by[q1]["small_tokens"] == 9 and by[q3]["small_tokens"] == 3 * 9
    assert by[q1]["large_tokens"] == words("Verdict: accept") == 2
    assert by[q3]["large_tokens"] == 3 * words(REJECT) + words(RIGHT[q3]) == 3 * 6 + 9
    assert by[q4]["large_tokens"] == words("hmm, let me see") + words(" accept") == 5
    read = [words(verdict_prompt(q3, WRONG[q3]))] * 3 + [words(chains.prompt(q3))]
    assert by[q3]["large_read_tokens"] == sum(read)
    small = [9, 18, 27, 18, 9, 27]
    large = [2, 6 + 2, 3 * 6 + 9, 5, 2, 3 * 6 + 9]
    assert summary["solve_verify_small_tokens"] == pytest.approx(sum(small) / 6)
    assert summary["solve_verify_large_tokens"] == pytest.approx(sum(large) / 6)


def test_verify_loop_edges():
    # no retry round: a rejected chain goes straight to the large model
    small, judge, large = Scripted({q1: [WRONG[q1]]}), Scripted({q1: ["nonsense"]}), Scripted({q1: [RIGHT[q1]]})
    rows, summary = verify_loop([q1], [Q[q1]], small, judge, large, 0, NUMERIC, words)
    assert rows[0]["answered_by"] == "large" and rows[0]["correct"] and rows[0]["retries"] == 0
    # nothing accepted and nothing right: precision and recall are undefined, not 0
    assert summary["verifier_precision"] is None and summary["verifier_recall"] is None
    # every chain accepted: the large model never answers
    large = Scripted({})
    rows, summary = verify_loop([q1], [Q[q1]], Scripted({q1: [RIGHT[q1]]}), Scripted({q1: ["Verdict: accept"]}),
                                large, 3, NUMERIC, words)
    assert large.batches == [] and summary["verifier_precision"] == summary["verifier_recall"] == 1.0


class FakeModels:
    """plan_solve.Models with scripted answers: the small model is right on the odd
    questions (wrong otherwise, and wrong differently when it retries), the large one
    always; as a verifier the large model accepts right chains."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.dropped: list[str] = []

    def generate(self, who: str, prompts: list[str], max_new_tokens: int) -> list[str]:
        self.calls.append((who, len(prompts), max_new_tokens))
        return [self.answer(who, p) for p in prompts]

    def answer(self, who: str, prompt: str) -> str:
        if prompt.startswith("Write a short numbered plan"):
            return "1. add the numbers"
        q = next(q for q in Q if q in prompt)
        if prompt.startswith("Check a solution"):
            return "Verdict: accept" if f"= {Q[q]}." in prompt else REJECT
        if who == "large" or int(Q[q]) % 4 == 2:
            return RIGHT[q]
        return WRONG[q].replace(str(int(Q[q]) + 1), str(int(Q[q]) + 2)) if "previous attempt" in prompt else WRONG[q]

    def count(self, text: str, who: str) -> int:
        return words(text)

    def drop(self, who: str) -> None:
        self.dropped.append(who)


def task(**changes) -> PlanSolveTask:
    fields = {"planner": {"name_or_path": "small"}, "solver": {"name_or_path": "large"},
              "data": {"path": "held-out.jsonl"}, "checker": NUMERIC, "max_plan_tokens": 16, "max_new_tokens": 32,
              "max_verdict_tokens": 8, "verify_rounds": 1, **changes}
    return PlanSolveTask.model_validate(fields)


def test_plan_solve_runs_the_arms_of_its_modes():
    models = FakeModels()
    rows, summary, accepted = plan_solve.arms(models, task(modes=["plan", "verify"]), list(Q), list(Q.values()))
    assert summary["small_accuracy"] == 0.5 and summary["large_accuracy"] == summary["solver_accuracy"] == 1.0
    assert summary["plan_solve_accuracy"] == summary["solver_with_plan_accuracy"] == 1.0 and len(accepted) == 6
    # the wrong half is rejected, retried (wrong again), and answered by the large model
    assert summary["solve_verify_accuracy"] == 1.0 and summary["verify_large_answered"] == 0.5
    assert summary["verifier_precision"] == summary["verifier_recall"] == 1.0
    assert summary["small_large_tokens"] == 0 and summary["large_small_tokens"] == 0
    assert summary["solve_verify_small_tokens"] == pytest.approx((3 * 9 + 3 * 2 * 9) / 6)
    assert summary["large_large_tokens"] == summary["solver_tokens_alone"] == 9
    assert {"rescued", "hurt", "plan_acceptance", "planner_tokens", "solver_tokens_with_plan"} <= set(summary)
    assert rows[1]["verify"]["answered_by"] == "large" and len(rows[1]["verify"]["attempts"]) == 2
    assert rows[0]["plan"] == "1. add the numbers" and rows[0]["correct_small"] and not rows[1]["correct_small"]
    assert [c[0] for c in models.calls][:4] == ["small", "small", "large", "large"]  # each model's work together
    assert ("large", 6, 8) in models.calls and models.dropped == []  # verdicts at their own limit; small kept


def test_plan_solve_with_one_mode():
    models = FakeModels()
    _, summary, _ = plan_solve.arms(models, task(modes=["plan"]), list(Q), list(Q.values()))
    assert "solve_verify_accuracy" not in summary and "small_accuracy" in summary and models.dropped == ["small"]
    _, summary, accepted = plan_solve.arms(FakeModels(), task(modes=["verify"]), list(Q), list(Q.values()))
    assert "plan_acceptance" not in summary and accepted == [] and "solve_verify_accuracy" in summary


def test_vllm_holds_one_engine_at_a_time(monkeypatch):
    """With vllm each switch closes the open engine; a prompt already answered is not asked
    again (the verify loop's first round is the small-alone chains)."""
    events: list[str] = []

    class Tokenizer:
        def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[str]]:
            return {"input_ids": text.split()}

    def load(ref, base_dir, gen, role):
        events.append(f"open {ref.name_or_path}")
        return ref.name_or_path, Tokenizer()

    def generate(model, tok, prompts, gen):
        events.append(f"{model} {len(prompts)}")
        fake = FakeModels()
        return [[fake.answer("large" if model == "big" else "small", p)] for p in prompts]

    monkeypatch.setattr(plan_solve, "load_for_generation", load)
    monkeypatch.setattr(plan_solve, "generate_batched", generate)
    monkeypatch.setattr(plan_solve, "release", lambda model: events.append(f"close {model}"))
    tc = task(modes=["verify"], backend="vllm", planner={"name_or_path": "tiny"}, solver={"name_or_path": "big"})
    models = plan_solve.Models(tc, "/base")
    _, summary, _ = plan_solve.arms(models, tc, list(Q), list(Q.values()))
    models.close()
    assert events == ["open tiny", "tiny 6",            # small alone = the verify loop's round 0
                      "close tiny", "open big", "big 6", "big 6",  # large alone; verdicts on round 0
                      "close big", "open tiny", "tiny 3",  # the rejected half retries
                      "close tiny", "open big", "big 3",  # verdicts; the fallback answers are large alone's
                      "close big"]
    assert summary["solve_verify_accuracy"] == 1.0


def test_verify_without_a_large_model_is_refused_by_name():
    with pytest.raises(SpecError) as exc:
        load_spec(EXAMPLES / "reasoning-tiny.yaml", ["reasoning.planner_solver.solver=null"])
    shown = [str(p) for p in exc.value.problems]
    assert len(shown) == 1 and "reasoning.planner_solver.solver: verify mode needs the large model" in shown[0]
    with pytest.raises(SpecError, match=re.escape("the planner+solver evaluation needs a solver model")):
        load_spec(EXAMPLES / "reasoning-tiny.yaml", ["reasoning.planner_solver.solver=null",
                                                     "reasoning.planner_solver.modes=[plan]"])
    with pytest.raises(SpecError, match=re.escape("planner_solver.train_planner: train_planner trains on")):
        load_spec(EXAMPLES / "reasoning-tiny.yaml", ["reasoning.planner_solver.modes=[verify]",
                                                     "reasoning.planner_solver.train_planner=true"])
    # a disabled planner_solver runs nothing and needs no large model
    load_spec(EXAMPLES / "reasoning-tiny.yaml", ["reasoning.planner_solver.solver=null",
                                                 "reasoning.planner_solver.enabled=false"])


@pytest.mark.parametrize(("example", "rounds", "verdict"), [("reasoning-tiny", 1, 16), ("reasoning", 2, 64)])
def test_plan_solve_run_config_carries_the_modes(example, rounds, verdict):
    runs = {r.name: r for r in compile(load_spec(EXAMPLES / f"{example}.yaml")).runs}
    tc = runs["plan_solve"].config["task_config"]
    assert (tc["modes"], tc["verify_rounds"], tc["max_verdict_tokens"]) == (["plan", "verify"], rounds, verdict)
    assert tc["solver"]["name_or_path"] != tc["planner"]["name_or_path"]  # verify's small model is the planner


def test_old_run_configs_still_read():
    """A plan_solve run.json written before verify existed reads as plan mode."""
    fields = {"planner": {"name_or_path": "s"}, "solver": {"name_or_path": "l"}, "data": {"path": "d.jsonl"},
              "checker": NUMERIC, "max_plan_tokens": 4, "max_new_tokens": 4}
    assert PlanSolveTask.model_validate(fields).modes == ["plan"]


def test_report_shows_every_arm_and_the_tradeoff(tmp_path):
    from launch.reports import reasoning as report

    m = {"small_accuracy": 0.25, "small_small_tokens": 40.0, "small_large_tokens": 0.0, "large_accuracy": 0.75,
         "large_small_tokens": 0.0, "large_large_tokens": 120.0, "solve_verify_accuracy": 0.625,
         "solve_verify_small_tokens": 70.0, "solve_verify_large_tokens": 30.0, "verifier_precision": 0.9,
         "verifier_recall": 0.5, "verify_rounds_used": 0.75, "verify_large_answered": 0.25}
    text = "\n".join(report.planner_solver("-", m))
    assert text.startswith("## Planner + solver (-)")
    assert "| solve + verify | 0.625 | 70 | 30 |" in text and "| small alone | 0.25 | 40 | 0 |" in text
    assert "plan + solve" not in text and "precision 0.9, recall 0.5" in text
    # metrics written before the arms had keys of their own
    old = {"solver_accuracy": 0.5, "solver_with_plan_accuracy": 0.6, "planner_tokens": 10.0,
           "solver_tokens_alone": 100.0, "solver_tokens_with_plan": 90.0, "plan_acceptance": 0.6}
    assert report.arm_figures(old) == [("large alone", 0.5, 0.0, 100.0), ("plan + solve", 0.6, 10.0, 90.0)]
    assert (report._tradeoff([("-", m), ("lr=1", old)], tmp_path)).is_file()
    undefined = {k: v for k, v in m.items() if k != "verifier_precision"}  # no chain accepted
    assert "precision n/a, recall 0.5" in "\n".join(report.planner_solver("-", undefined))
