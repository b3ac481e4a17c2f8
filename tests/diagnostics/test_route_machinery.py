"""Checks that isolate each route's machinery (issue 20): where a route's published effect
does not show in a toy demo, these say whether the parts under it hold, in general.

DPO and SPIN's training (TRL's real DPOTrainer and loss on the fixtures' tiny LM, fp32 as
the runtime runs an fp32 spec):
- a pair whose chosen and rejected answers are the same gives no gradient, whatever the
  reference;
- at step 0 the reference's log-probs are the policy's: TRL logs rewards and margin 0
  (also through the project's own `dpo` task, where the reference is the model's own
  checkpoint, as SPIN's train stage has it);
- held-out implicit-reward accuracy (beta * (log p_policy - log p_ref), chosen above
  rejected): the project does not compute it (only TRL's training-batch accuracy is
  logged); the general property is checked here with a hand computation against TRL's.
SPIN's data: iteration t's rejected answers come from model_t, in the compiled plans of
the examples and in the generate -> spin_pairs tasks' real output.
STaR: every row `filter_chains` keeps is right by the checker when scored again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.launch_helpers import metrics, run_cli, run_config, status

BETA = 0.1
NUMERIC = {"type": "numeric", "tolerance": 1e-6}


def _rows(assets: Path, start: int, n: int) -> list[dict[str, str]]:
    lines = (assets / "tiny-chat" / "train.jsonl").read_text().splitlines()[start:start + n]
    return [json.loads(line) for line in lines]


def _pairs(rows: list[dict[str, str]], rejected: Callable[[dict[str, str]], str]) -> Any:
    """Conversational pairs, as runtime.tasks.dpo.pairs_dataset makes them for a chat model."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                               "chosen": [{"role": "assistant", "content": r["completion"]}],
                               "rejected": [{"role": "assistant", "content": rejected(r)}]} for r in rows])


def _wrong(row: dict[str, str]) -> str:
    return str(int(row["completion"]) + 1)


def _trainer(assets: Path, out: Path, train: Any, reference: str = "tiny-lm", loss_type: str = "sigmoid",
             steps: int = 1, eval_dataset: Any = None) -> Any:
    """TRL's DPOTrainer on the tiny LM, the reference loaded from its own checkpoint as the
    runtime loads it (a second copy; `reference` another fixture model to make them differ).
    bf16 off as the runtime passes it for fp32 (TRL's default, bf16=True, runs the reference
    under CPU autocast and its step-0 held-out rewards are then not 0)."""
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    model = AutoModelForCausalLM.from_pretrained(assets / "tiny-lm")
    ref = AutoModelForCausalLM.from_pretrained(assets / reference)
    args = DPOConfig(output_dir=str(out), beta=BETA, loss_type=[loss_type], max_length=64, learning_rate=3e-3,
                     per_device_train_batch_size=8, per_device_eval_batch_size=8, max_steps=steps,
                     logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, bf16=False,
                     disable_tqdm=True, dataloader_num_workers=0, seed=0)
    return DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=train, eval_dataset=eval_dataset,
                      processing_class=model_tokenizer(assets))


def model_tokenizer(assets: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(assets / "tiny-lm")


# --- DPO: chosen = rejected gives no gradient ---------------------------------------------

EXPECTED_LOSS = {"sigmoid": math.log(2), "hinge": 1.0, "ipo": (1 / (2 * BETA)) ** 2}  # at a zero margin


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo"])
def test_identical_answers_give_zero_dpo_gradient(tmp_path: Path, tiny_assets: Path, loss_type: str) -> None:
    rows = _rows(tiny_assets, 0, 8)

    def gradient(rejected: Callable[[dict[str, str]], str]) -> tuple[float, float, dict[str, list[float]]]:
        # another model as reference: the log-ratios are far from 0, only chosen - rejected is 0
        tr = _trainer(tiny_assets, tmp_path / "out", _pairs(rows, rejected), reference="tiny-lm-wide",
                      loss_type=loss_type)
        inputs = tr._prepare_inputs(next(iter(tr.get_train_dataloader())))
        tr.model.train()
        loss = tr.compute_loss(tr.model, inputs)
        loss.backward()
        largest = max(p.grad.abs().max().item() for p in tr.model.parameters() if p.grad is not None)
        return loss.item(), largest, tr._metrics["train"]

    loss, same, logged = gradient(lambda r: r["completion"])
    assert abs(logged["rewards/chosen"][0]) > 1e-3 and logged["rewards/margins"][0] == pytest.approx(0, abs=1e-7)
    assert loss == pytest.approx(EXPECTED_LOSS[loss_type], rel=1e-5)
    assert same < 1e-6, f"{loss_type}: identical answers moved the weights (largest |grad| {same:.3g})"
    _, different, _ = gradient(_wrong)  # the same batch with a wrong rejected answer does move them
    assert different > 1e-3


# --- DPO / SPIN: the reference is the policy at step 0 ------------------------------------

def test_reference_log_probs_equal_the_policys_at_step_0(tmp_path: Path, tiny_assets: Path) -> None:
    tr = _trainer(tiny_assets, tmp_path / "out", _pairs(_rows(tiny_assets, 0, 16), _wrong), steps=2)
    inputs = tr._prepare_inputs(next(iter(tr.get_train_dataloader())))
    import torch

    # directly: each sequence's log-prob under the policy and under the reference, one batch
    policy = torch.cat(tr.compute_ref_log_probs(tr.model, inputs))
    reference = torch.cat(tr.compute_ref_log_probs(tr.ref_model, inputs))
    assert torch.equal(policy, reference), (policy - reference).abs().max()

    tr.train()
    first, second = [e for e in tr.state.log_history if "rewards/margins" in e]
    assert first["rewards/chosen"] == first["rewards/rejected"] == first["rewards/margins"] == 0.0, first
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert first["rewards/accuracies"] == 0.0  # ties: TRL counts chosen > rejected strictly, so 0 and not 0.5
    assert second["rewards/margins"] > 0  # one update later the policy has left the reference


@pytest.mark.slow
def test_the_dpo_tasks_reference_is_the_policy_at_step_0(tmp_path: Path, tiny_assets: Path) -> None:
    """The project's own `dpo` task (DeepSpeed, one process): one step, logged at step 0, with
    the reference the model's own checkpoint, as SPIN's train stage names it."""
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": r["prompt"], "chosen": r["completion"], "rejected": _wrong(r)})
                             + "\n" for r in _rows(tiny_assets, 0, 8)))
    spec = tmp_path / "dpo-step0.yaml"
    spec.write_text(f"""\
name: dpo-step0
kind: dpo
output_root: {tmp_path / "runs"}
model: {{name_or_path: {tiny_assets / "tiny-lm"}, dtype: fp32}}
data: {{train: {pairs}}}
training: {{lr: 1.0e-3, max_steps: 1, global_batch_size: 8, micro_batch_size: 8, precision: fp32,
           max_length: 64, logging_steps: 1, save_steps: 1}}
deepspeed: {{zero_stage: 2}}
resources: {{gpus_per_node: 0, procs_per_node: 1, cpus_per_task: 1, time: 30}}
dpo: {{beta: {BETA}, loss_type: [sigmoid]}}
""")
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "dpo-step0")
    config = json.loads((Path(row["run_dir"]) / "run.json").read_text())["task_config"]
    assert config["reference"]["name_or_path"] == config["model"]["name_or_path"]
    m = metrics(row)
    assert m["rewards/chosen"] == m["rewards/rejected"] == m["rewards/margins"] == 0.0, m
    assert m["loss"] == pytest.approx(math.log(2), abs=1e-6)


# --- DPO: held-out implicit-reward accuracy ------------------------------------------------

def implicit_rewards(policy: Any, reference: Any, tokenizer: Any, pairs: Any, beta: float = BETA
                     ) -> list[tuple[float, float]]:
    """(chosen, rejected) rewards beta * (log p_policy - log p_ref) of each pair, by hand: the
    answer's tokens after the chat-rendered prompt (its end-of-turn and newline included)."""
    import torch

    def logp(model: Any, prompt: list[dict[str, str]], answer: list[dict[str, str]]) -> float:
        head = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
        full = tokenizer.apply_chat_template(prompt + answer, tokenize=True, return_dict=False)
        assert full[:len(head)] == head
        ids = torch.tensor([full])
        with torch.no_grad():
            logits = model(ids).logits[0, :-1].float()
        token_logps = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
        return float(token_logps[len(head) - 1:].sum())

    def reward(ex: dict[str, Any], key: str) -> float:
        return beta * (logp(policy, ex["prompt"], ex[key]) - logp(reference, ex["prompt"], ex[key]))

    policy.eval()
    return [(reward(ex, "chosen"), reward(ex, "rejected")) for ex in pairs]


def accuracy(rewards: list[tuple[float, float]]) -> float:
    return sum(c > r for c, r in rewards) / len(rewards)


def test_held_out_reward_accuracy_rises_from_step_0_and_matches_trl(tmp_path: Path, tiny_assets: Path) -> None:
    refuse = "I do not know"  # chosen and rejected differ systematically: the answer, or a refusal
    train = _pairs(_rows(tiny_assets, 0, 16), lambda r: refuse)
    held_out = _pairs(_rows(tiny_assets, 16, 8), lambda r: refuse)
    tr = _trainer(tiny_assets, tmp_path / "out", train, steps=8, eval_dataset=held_out)
    tok = model_tokenizer(tiny_assets)

    before = implicit_rewards(tr.model, tr.ref_model, tok, held_out)
    assert all(c == r == 0.0 for c, r in before)  # defined at step 0: every pair a tie
    assert tr.evaluate()["eval_rewards/accuracies"] == accuracy(before) == 0.0

    tr.train()
    train_accuracy = [e["rewards/accuracies"] for e in tr.state.log_history if "rewards/accuracies" in e]
    assert train_accuracy[0] == 0.0 and train_accuracy[-1] > train_accuracy[0], train_accuracy
    after = implicit_rewards(tr.model, tr.ref_model, tok, held_out)
    trl = tr.evaluate()
    assert accuracy(after) == trl["eval_rewards/accuracies"] > 0.5, (after, trl)
    assert sum(c for c, _ in after) / len(after) == pytest.approx(trl["eval_rewards/chosen"], abs=1e-4)
    assert sum(r for _, r in after) / len(after) == pytest.approx(trl["eval_rewards/rejected"], abs=1e-4)


# --- SPIN: iteration t's rejected answers are model_t's -----------------------------------

@pytest.mark.parametrize("example", ["spin.yaml", "spin-tiny.yaml"])
def test_spin_iteration_t_generates_with_trains_from_and_against_model_t(example: str) -> None:
    from compiler import compile
    from specs import load_spec
    from specs.kinds.spin import SpinExperiment

    loaded = load_spec(EXAMPLES / example)
    spec = loaded.experiment
    assert isinstance(spec, SpinExperiment)
    runs = {r.stage: r for r in compile(loaded).runs}
    iterations = sorted(int(s.removeprefix("train_t")) for s in runs if s.startswith("train_t"))
    assert iterations == list(range(spec.spin.iterations)) and len(iterations) >= 2
    maker = runs.get("sft")  # the run that made model_t; None: the base model
    model_t = maker.config["outputs"]["model"] if maker else spec.model.name_or_path
    for t in iterations:
        gen, pairs, train = runs[f"generate_t{t}"], runs[f"pairs_t{t}"], runs[f"train_t{t}"]
        tc = train.config["task_config"]
        successor = train.config["outputs"]["model"]  # model_{t+1}
        assert gen.config["task_config"]["model"]["name_or_path"] == model_t != successor, (t, model_t)
        assert tc["model"]["name_or_path"] == tc["reference"]["name_or_path"] == model_t  # start and opponent
        assert gen.config["task_config"]["model"]["dtype"] == tc["reference"]["dtype"] == tc["model"]["dtype"]
        # the DPO reads the pairs made from this generation
        assert pairs.config["task_config"]["generations"] == gen.config["outputs"]["generations"]
        assert tc["pairs"]["path"] == pairs.config["outputs"]["pairs"]
        # order: the generation waits for model_t's run, and model_{t+1}'s run waits for it
        assert set(gen.depends_on) == ({maker.id} if maker else set())
        assert gen.id in pairs.depends_on and pairs.id in train.depends_on and train.id not in gen.depends_on
        # earlier iterations' pairs only (their rejected answers are model_i's, i < t)
        earlier = {runs[f"pairs_t{i}"].config["outputs"]["new_pairs"] for i in range(t)}
        assert set(pairs.config["task_config"]["previous"]) <= earlier
        maker, model_t = train, successor


@pytest.fixture(scope="module")
def two_models(tiny_assets: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """model_t (the fixtures' tiny-lm-h32: weights wide enough that greedy answers vary) and a
    model_{t+1} of the same shape and tokenizer whose answers differ."""
    from runtime.fixtures.tiny import build_lm

    successor = tmp_path_factory.mktemp("model_t1")
    tok = model_tokenizer(tiny_assets)
    build_lm(successor, tok, seed=4, hidden=64, heads=2, init_std=0.3)
    return tiny_assets / "tiny-lm-h32", successor


def greedy(model_dir: Path, prompts: list[str], max_new_tokens: int) -> list[str]:
    """One prompt at a time with transformers' generate: the answers a model gives, independent
    of the project's batching."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()  # type: ignore[no-untyped-call]
    out = []
    for p in prompts:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                      tokenize=True, return_dict=False)
        with torch.no_grad():
            seq = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        out.append(str(tok.decode(seq[0, len(ids):], skip_special_tokens=True)).strip())
    return out


def test_spin_pairs_reject_model_ts_own_answers(tmp_path: Path, tiny_assets: Path, two_models: tuple[Path, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The generate and spin_pairs tasks for real, with model_t: every rejected answer is what
    model_t answers that prompt, which model_{t+1} would not have answered for some."""
    from runtime import routes  # noqa: F401  (the prompt styles, the spin_pairs task)
    from runtime.spin import pairs as spin_pairs
    from runtime.tasks import generate

    monkeypatch.delenv("LABSPEC_SHARD", raising=False)
    monkeypatch.delenv("LABSPEC_NUM_SHARDS", raising=False)
    model_t, successor = two_models
    rows = _rows(tiny_assets, 0, 12)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gen = run_config(tmp_path / "generate_t0", "generate", {
        "model": {"name_or_path": str(model_t), "dtype": "fp32"}, "prompts": {"path": str(prompts)},
        "generation": {"max_new_tokens": 6, "temperature": 0.0, "batch_size": 4}}, base_dir=Path("/"))
    assert generate.run(gen, gen.task_config) == 0
    pairs = run_config(tmp_path / "pairs_t0", "spin_pairs", {
        "generations": gen.outputs["generations"], "answer_field": "completion"}, base_dir=Path("/"))
    assert spin_pairs.run(pairs, pairs.task_config) == 0

    made = [json.loads(line) for line in Path(pairs.outputs["pairs"]).read_text().splitlines()]
    questions = [r["prompt"] for r in rows]
    own = dict(zip(questions, greedy(model_t, questions, 6), strict=True))
    other = dict(zip(questions, greedy(successor, questions, 6), strict=True))
    gold = {r["prompt"]: r["completion"] for r in rows}
    assert len(made) == sum(1 for q in questions if own[q] and own[q] != gold[q]) > 0
    for pair in made:
        assert pair["chosen"] == gold[pair["prompt"]]
        assert pair["rejected"] == own[pair["prompt"]], pair
    assert any(other[p["prompt"]] != p["rejected"] for p in made)  # the check tells the two models apart


# --- STaR: what filter_chains keeps is right by the checker -------------------------------

SAMPLES = [  # (gold answer as the data writes it, sampled chains)
    ("2 + 3 = 5 #### 5", ["2 + 3 = 5. The answer is 5.", "2 + 3 = 6. The answer is 6.",
                          "2+3=5, so the answer is 5",  # the first chain's equations: de-duplicated
                          "2 + 3 = 5. The answer is 5.\nQ: What is 1 + 1?",  # trailing noise: cut
                          "", "The answer is 5,000", "so 2 plus 3 makes 5", "The answer is: $5."]),
    ("10 * 100 = 1,000 #### 1,000", ["10 * 100 = 1000. The answer is 1000.", "The answer is 100.",
                                     "The answer is 1000. Then 1000 - 0 = 1000."]),  # not a stated answer
    ("4 - 9 = -5 #### -5", ["4 - 9 = 5. The answer is 5.", "The answer is -6."]),  # unsolved
    ("7", ["The answer is 8."]),  # unsolved, no gold rationale
    ("x #### 3/4", ["The answer is 0.75.", "It is 0.7. The answer is 0.7."]),
]


@pytest.mark.parametrize("include_gold", [True, False])
def test_filter_chains_keeps_only_chains_the_checker_accepts(tmp_path: Path, include_gold: bool) -> None:
    from runtime.reasoning import chains
    from runtime.reasoning import filter as star_filter
    from runtime.reasoning.checkers import check

    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"index": i, "prompt": f"Question {i}?", "answer": answer,
                                           "generations": generations}) + "\n"
                               for i, (answer, generations) in enumerate(SAMPLES)))
    run = run_config(tmp_path / "filter_t0", "filter_chains", {
        "samples": str(samples), "question_field": "question", "answer_field": "answer", "checker": NUMERIC,
        "rationalization": {"enabled": False, "model": {"name_or_path": "unused"}, "temperature": 0.7,
                            "max_new_tokens": 8},
        "dedupe": "equations", "max_chains_per_question": 8, "include_gold": include_gold,
        "provenance": {"iteration": 0}}, base_dir=Path("/"))
    assert star_filter.run(run, run.task_config) == 0
    kept = [json.loads(line) for line in Path(run.outputs["data"]).read_text().splitlines()]
    gold = {i: chains.gold_parts(answer)[1] for i, (answer, _) in enumerate(SAMPLES)}
    for row in kept:  # scored again, as the next iteration's SFT data: every row right by the checker
        assert check(chains.final_answer(row["answer"]), gold[row["question_index"]], NUMERIC), row
        assert row["question"] == chains.prompt(row["source_question"])
    by_question: dict[int, list[str]] = {}
    for row in kept:
        if row["source"] == "sample":
            by_question.setdefault(row["question_index"], []).append(row["answer"])
    assert by_question == {0: ["2 + 3 = 5. The answer is 5.", "so 2 plus 3 makes 5", "The answer is: $5."],
                           1: ["10 * 100 = 1000. The answer is 1000."], 4: ["The answer is 0.75."]}
    gold_rows = {row["question_index"] for row in kept if row["source"] == "gold"}
    assert gold_rows == ({0, 1, 2, 4} if include_gold else set())  # question 3's gold has no rationale
    assert len(kept) == sum(map(len, by_question.values())) + len(gold_rows)
    m = json.loads(Path(run.outputs["metrics"]).read_text())
    assert m["coverage"] == 3 / 5 and m["data_size"] == len(kept)


def test_a_chain_is_scored_by_its_own_answer_not_an_invented_follow_up() -> None:
    from runtime.reasoning.filter import right_chains
    from specs.kinds.reasoning import AnswerChecker

    chain = "2 + 3 = 5. The answer is 5.\n\nQ: What is 1 + 1?\nA: 1 + 1 = 2. The answer is 2."
    assert right_chains([chain], "5", AnswerChecker(type="numeric")) == ["2 + 3 = 5. The answer is 5."]
