"""Demo (not a test): STaR on the STaR paper's own toy, n-digit addition with a scratchpad.

Questions "What is 482 + 397?" with both operands n digits, n = 1..5. The rationale is a
Nye-style scratchpad (the one STaR's addition experiment used), one token per digit, with
the digit sum written out (a first try without it taught the seed model almost no digit sums):
each step adds the last digits of both operands and the carry, then drops those digits,
prepends the new result digit and writes the carry, so every step reads only the lines
just above it:

    482+397,C0
    2+7+0=9
    48+39,9C0
    8+9+0=17
    4+3,79C1
    4+3+1=8
    +,879C0
    The answer is 879.

A random 4-layer, width-128 Qwen2-shaped model is seeded by SFT (the `sft` kind, as
`common.warm_up` does) on worked scratchpads of 1- and 2-digit sums (and, by default, a
few 3-digit ones; the first runs had none: see below), half of them with
the answer given as a hint in the prompt (STaR's rationalisation prompt, so the model has
seen a hint before it is asked to rationalise). Then the `reasoning` kind runs STaR: each
iteration samples k chains for a training pool balanced over 1..5 digits (gold answers are
the bare sums: no rationale, `include_gold: false`, the model's own chains are the data),
keeps the chains whose final answer is right, fine-tunes (continuing from the last model,
`restart_from_base: false`) and evaluates greedy answers on held-out questions, per digit
count. Two experiments: with STaR's rationalisation (unsolved questions retried with the
answer as a hint) and without.

Prediction, written before the first run: the seed model solves most 1- and 2-digit sums,
few 3-digit ones and almost no 4- or 5-digit ones. Over the iterations, held-out accuracy
at 3 digits (and later 4) should rise by more than its standard error, because the rare
right 3-digit chains it samples become training data for the next round; 1-2 digit
accuracy should stay high. With rationalisation, coverage of the training pool at 3-5
digits should be much higher (the hint makes the final answer easy to copy), but many
of those chains will carry a wrong scratchpad under a right final answer, so its gain in
held-out accuracy over no rationalisation is expected to be small, possibly negative.

Measured: the predicted effect appeared only as a trace. Defaults (600 seed rationales of 1
and 2 digits plus 60 of 3 digits, 1,600 seed steps; pool 30 and held-out 40 questions per
digit count; k = 4; three iterations of 40, 48, 58 SFT steps at lr 3e-4; 516 s here),
held-out greedy accuracy, n = 40 per cell, s.e. sqrt(p(1-p)/n):

| arm | model | 1 digit | 2 digits | 3 digits | 4 digits | 5 digits |
|---|---|---|---|---|---|---|
| both | seed SFT | 1.00 ± 0.00 | 1.00 ± 0.00 | 0.00 ± 0.00 | 0.00 ± 0.00 | 0.00 ± 0.00 |
| rationalisation | iteration 1 | 1.00 ± 0.00 | 1.00 ± 0.00 | 0.07 ± 0.04 | 0.00 ± 0.00 | 0.00 ± 0.00 |
| rationalisation | iteration 2 | 0.97 ± 0.02 | 0.90 ± 0.05 | 0.07 ± 0.04 | 0.00 ± 0.00 | 0.00 ± 0.00 |
| rationalisation | iteration 3 | 0.97 ± 0.02 | 0.88 ± 0.05 | 0.10 ± 0.05 | 0.00 ± 0.00 | 0.00 ± 0.00 |
| no rationalisation | iteration 1 | 1.00 ± 0.00 | 0.97 ± 0.02 | 0.03 ± 0.02 | 0.00 ± 0.00 | 0.00 ± 0.00 |
| no rationalisation | iteration 2 | 1.00 ± 0.00 | 0.93 ± 0.04 | 0.03 ± 0.02 | 0.00 ± 0.00 | 0.00 ± 0.00 |
| no rationalisation | iteration 3 | 0.88 ± 0.05 | 0.70 ± 0.07 | 0.03 ± 0.02 | 0.00 ± 0.00 | 0.00 ± 0.00 |

3-digit accuracy rose from 0 to 0.10 ± 0.05 with rationalisation (0.03 without), about two
standard errors, and nothing reached 4 or 5 digits; 1-2 digit accuracy fell. The seed
model copies 3-digit operands but slips in the running result, so it wrote a right 3-digit
chain for at most 2 of the 30 pool questions per iteration (1 of them by rationalisation),
and every kept 3-digit chain, and every right held-out 3-digit answer after iteration 3,
had a wrong
scratchpad under a right final answer: the answer is read from the digit sums, not from
the running result. Too few chains to extend the digit count. Other settings: without the
3-digit seed rationales (1,200 seed steps, SFT lr 1e-3) the seed model was 1.00 / 0.93 /
0 / 0 / 0, no 3-5 digit chain was ever right, even with the hint, so both arms trained on
identical data and ended at 0.95 / 0.70 / 0 / 0 / 0; with 30 3-digit seed rationales and
1,200 steps the seed was weak at 2 digits (0.20) and STaR lowered it (0.07-0.12), training
on 2-digit chains that were mostly right answers under wrong scratchpads.

    .venv/bin/python demos/reasoning.py [--out runs/demo-reasoning] [--iterations 3]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

from common import REPO, launch, warm_up  # demos/common.py (demos/ on sys.path)

DIGITS = range(1, 6)
QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")


def scratchpad(a: int, b: int) -> str:
    """The worked rationale and final answer of a + b, as the chain the model should write."""
    x, y, r, c = str(a), str(b), "", 0
    lines = [f"{x}+{y},{r}C{c}"]
    while x or y:
        s = int(x[-1:] or 0) + int(y[-1:] or 0) + c
        lines.append(f"{x[-1:] or 0}+{y[-1:] or 0}+{c}={s}")
        x, y, r, c = x[:-1], y[:-1], f"{s % 10}{r}", s // 10
        lines.append(f"{x}+{y},{r}C{c}")
    return "\n".join(lines) + f"\nThe answer is {a + b}."


def pairs(rng: random.Random, n: int, count: int) -> list[tuple[int, int]]:
    lo, hi = (0, 9) if n == 1 else (10 ** (n - 1), 10**n - 1)
    return [(rng.randint(lo, hi), rng.randint(lo, hi)) for _ in range(count)]


def digits_of(question: str) -> int:
    m = QUESTION.search(question)
    return len(m.group(1)) if m else 0


def addition_assets(assets: Path, seed_count: int, seed_three: int, pool: int, test: int) -> Path:
    """The seed rationales (1-2 digits), the STaR pool and the held-out questions (balanced
    over 1..5 digits, bare answers), and a random model with a one-token-per-digit tokenizer."""
    sys.path.insert(0, str(REPO))
    from runtime.fixtures.tiny import build_lm, build_tokenizer, write_jsonl
    from runtime.reasoning.chains import prompt

    rng = random.Random(0)
    question = "What is {} + {}?".format
    seed = [p for n in (1, 2) for p in pairs(rng, n, seed_count // 2)] + pairs(random.Random(2), 3, seed_three)
    warm = [{"prompt": prompt(question(a, b), hint=str(a + b) if i % 2 else None), "completion": scratchpad(a, b)}
            for i, (a, b) in enumerate(seed)]
    write_jsonl(assets / "warmup.jsonl", warm)
    for split, per_digit in (("train", pool), ("test", test)):
        write_jsonl(assets / f"{split}.jsonl", [{"question": question(a, b), "answer": str(a + b)}
                                                for n in DIGITS for a, b in pairs(rng, n, per_digit)])
    if not (assets / "lm" / "config.json").exists():
        texts = [r["prompt"] + " " + r["completion"] for r in warm]
        texts += [prompt(question(a, b), hint=str(a + b)) + " " + scratchpad(a, b)
                  for n in DIGITS for a, b in pairs(random.Random(1), n, 20)]
        tok = build_tokenizer(assets / "lm", texts, individual_digits=True)
        build_lm(assets / "lm", tok, seed=0, hidden=128, layers=4)
    return assets


def stage_runs(exp_dir: Path) -> dict[str, Path]:
    return {p.name.rsplit("-", 1)[0]: p for p in exp_dir.glob("*-*") if (p / "run.json").exists()}


def per_digit_accuracy(run: Path) -> dict[int, tuple[float, int]]:
    rows = [json.loads(x) for x in (run / "outputs/predictions.jsonl").read_text().splitlines()]
    out = {}
    for n in DIGITS:
        hits = [bool(r["greedy_correct"]) for r in rows if digits_of(r["question"]) == n]
        out[n] = (sum(hits) / max(len(hits), 1), len(hits))
    return out


def kept_chains(run: Path) -> list[dict]:
    files = sorted((run / "outputs").rglob("*.jsonl"))
    return [json.loads(x) for f in files for x in f.read_text().splitlines() if x.strip()]


def coverage(run: Path, pool: int) -> dict[int, tuple[float, float, float]]:
    """Per digit count: share of pool questions with a kept chain, share covered by
    rationalisation, and the share of kept chains whose scratchpad is exactly right
    (the checker reads only the final answer)."""
    rows = kept_chains(run)
    out = {}
    for n in DIGITS:
        mine = [r for r in rows if digits_of(r["source_question"]) == n]
        covered = {r["question_index"] for r in mine}
        rat = {r["question_index"] for r in mine if r["source"] == "rationalization"}
        exact = []
        for r in mine:
            a, b = map(int, QUESTION.search(r["source_question"]).groups())
            exact.append(" ".join(r["answer"].split()) == " ".join(scratchpad(a, b).split()))
        out[n] = (len(covered) / pool, len(rat) / pool, sum(exact) / len(exact) if exact else float("nan"))
    return out


def cell(p: float, n: int) -> str:
    return f"{p:.2f} ± {math.sqrt(p * (1 - p) / max(n, 1)):.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-reasoning")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--warmup-steps", type=int, default=1600)
    ap.add_argument("--seed-rationales", type=int, default=600, help="worked 1- and 2-digit sums, half each")
    ap.add_argument("--seed-three-digit", type=int, default=60, help="worked 3-digit sums added to the seed")
    ap.add_argument("--sft-lr", type=float, default=3e-4, help="learning rate of the STaR iterations' SFT")
    ap.add_argument("--pool", type=int, default=30, help="STaR training questions per digit count")
    ap.add_argument("--test", type=int, default=40, help="held-out questions per digit count")
    ap.add_argument("--samples", type=int, default=4, help="chains sampled per training question")
    ap.add_argument("--sft-steps", type=int, default=40, help="SFT steps of the first iteration (x1.2 per iteration)")
    args = ap.parse_args()
    started = time.time()
    assets = addition_assets(args.out / "assets", args.seed_rationales, args.seed_three_digit, args.pool, args.test)
    seeded = warm_up(args.out, assets, args.warmup_steps)
    print(f"seed SFT done at {time.time() - started:.0f} s", flush=True)
    spec = args.out / "reasoning-demo.yaml"
    spec.write_text((REPO / "specs/examples/reasoning-tiny.yaml").read_text().replace(
        "extends: reasoning.yaml", f"extends: {REPO / 'specs/examples/reasoning.yaml'}"))
    arms = {"with rationalisation": "star-rat", "without rationalisation": "star-norat"}
    for arm, name in arms.items():
        launch(spec, {
            "name": name, "output_root": str(args.out), "model.name_or_path": str(seeded),
            "model.num_parameters": "1M", "data.train": str(assets / "train.jsonl"),
            "data.test": str(assets / "test.jsonl"),
            "reasoning.bootstrap": f"{{iterations: {args.iterations}, samples_per_question: {args.samples}, "
                                   "temperature: 0.8, max_new_tokens: 144, few_shot: 0, include_gold: false, "
                                   f"rationalization: {str(arm == 'with rationalisation').lower()}, "
                                   f"restart_from_base: false, base_steps: {args.sft_steps}, steps_growth: 1.2, "
                                   "max_chains_per_question: 2, shards: 2}",
            "reasoning.evaluation": "{majority_k: 1, temperature: 0.8}",
            "reasoning.planner_solver.enabled": "false", "reasoning.grpo": "null",
            "training.lr": args.sft_lr, "training.global_batch_size": 16, "training.micro_batch_size": 8,
            "training.max_length": 208,
        })
        print(f"{arm} done at {time.time() - started:.0f} s", flush=True)
    wall = time.time() - started
    models = ["evaluate_start"] + [f"evaluate_t{t}" for t in range(args.iterations)]
    table: dict[str, dict[str, dict[int, tuple[float, int]]]] = {}
    print(f"\nseed SFT + both STaR runs: {wall:.0f} s\n")
    print("Held-out greedy accuracy ± s.e. (sqrt(p(1-p)/n), n per cell below); model 0 = seed SFT, "
          "t = after STaR iteration t\n")
    head = "| arm | model | " + " | ".join(f"{n} digits" for n in DIGITS) + " |"
    print(head + "\n|" + "---|" * (len(DIGITS) + 2))
    for arm, name in arms.items():
        runs = stage_runs(args.out / name)
        table[arm] = {m: per_digit_accuracy(runs[m]) for m in models}
        for i, m in enumerate(models):
            acc = table[arm][m]
            print(f"| {arm} | {i} | " + " | ".join(cell(*acc[n]) for n in DIGITS) + " |")
    print(f"\n(n = {args.test} held-out questions per digit count)\n")
    print("Training pool per iteration: coverage (share with a kept chain) / by rationalisation / "
          "kept chains with an exactly right scratchpad\n")
    print(head.replace("model", "iteration") + "\n|" + "---|" * (len(DIGITS) + 2))
    for arm, name in arms.items():
        runs = stage_runs(args.out / name)
        for t in range(args.iterations):
            cov = coverage(runs[f"filter_t{t}"], args.pool)
            print(f"| {arm} | {t} | " + " | ".join(f"{c:.2f} / {r:.2f} / {e:.2f}" for c, r, e in
                                                   (cov[n] for n in DIGITS)) + " |")
    plot(table, models, args.out / "reasoning_star.png")
    return 0


def plot(table: dict[str, dict[str, dict[int, tuple[float, int]]]], models: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(5 * len(table), 4), sharey=True)
    for ax, (arm, rows) in zip(axes, table.items(), strict=True):
        for i, m in enumerate(models):
            ps = [rows[m][n][0] for n in DIGITS]
            ses = [math.sqrt(p * (1 - p) / max(rows[m][n][1], 1)) for p, n in zip(ps, DIGITS, strict=True)]
            ax.errorbar(list(DIGITS), ps, yerr=ses, marker="o", capsize=3,
                        label="seed SFT" if i == 0 else f"STaR iteration {i}")
        ax.set_title(arm)
        ax.set_xlabel("digits per operand")
        ax.set_xticks(list(DIGITS))
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("held-out greedy accuracy")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
