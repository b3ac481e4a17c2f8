"""Demo (not a test): GRPO on a warm-started small reasoner, synthetic arithmetic.

Prediction, written before the first run: a 4-layer, width-128 model fine-tuned on worked
solutions for a quarter of the training questions gets some held-out sums right (greedy
accuracy well above 0, pass@8 above greedy), so GRPO's groups of 8 answers often differ in
reward. GRPO with the numeric checker as its reward should then raise the mean training
reward and held-out greedy accuracy above the warm model's, by more than one standard
error, while the share of groups with no reward variance falls as the model leaves the
all-wrong regime (or rises, if it collapses onto answers that are all right or all wrong).

The warm model is the `reasoning` kind's base model; the spec has no STaR iteration and
its GRPO stage starts from the base (`reasoning.grpo.start: base`): evaluate_start scores
the warm model, grpo trains it, evaluate_grpo scores the result. Everything runs on the
local executor, 2 CPU processes for the trainers.

    .venv/bin/python demos/reasoning_grpo.py [--out runs/demo-grpo] [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from common import REPO, arithmetic_assets, launch, report, warm_up  # demos/common.py


def scores(run_dir: Path) -> tuple[float, float, float, int]:
    """Greedy accuracy, its standard error, majority accuracy, questions: from predictions."""
    rows = [json.loads(x) for x in (run_dir / "outputs/predictions.jsonl").read_text().splitlines()]
    n = len(rows)
    greedy = sum(bool(r["greedy_correct"]) for r in rows) / n
    majority = sum(bool(r["majority_correct"]) for r in rows) / n
    return greedy, math.sqrt(greedy * (1 - greedy) / n), majority, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-grpo")
    ap.add_argument("--warmup-steps", type=int, default=60)
    ap.add_argument("--max-operand", type=int, default=9)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=2e-4)
    args = ap.parse_args()
    started = time.time()
    assets = arithmetic_assets(args.out / "assets", args.max_operand)
    warm = warm_up(args.out, assets, args.warmup_steps)
    spec = args.out / "grpo-demo.yaml"
    spec.write_text((REPO / "specs/examples/reasoning-tiny.yaml").read_text().replace(
        "extends: reasoning.yaml", f"extends: {REPO / 'specs/examples/reasoning.yaml'}"))
    launch(spec, {
        "name": "grpo-demo", "output_root": str(args.out), "model.name_or_path": str(warm),
        "model.num_parameters": "1M", "data.train": str(assets / "train.jsonl"),
        "data.test": str(assets / "test.jsonl"),
        "reasoning.bootstrap": "{iterations: 0, few_shot: 0, max_new_tokens: 24}",
        "reasoning.evaluation": "{majority_k: 8, temperature: 0.8}",
        "reasoning.planner_solver.enabled": "false",
        "reasoning.grpo": f"{{start: base, steps: {args.steps}, group_size: 8, beta: 0.0, temperature: 1.0, "
                          "max_completion_length: 24, loss_type: dapo, format: {template: answer, weight: 0.1}}",
        "training.lr": args.lr, "training.warmup_steps": 5, "training.global_batch_size": 32,
        "training.micro_batch_size": 16, "training.logging_steps": 5,
    })
    runs = {p.name.rsplit("-", 1)[0]: p for p in (args.out / "grpo-demo").glob("*-*") if (p / "run.json").exists()}
    grpo = json.loads((runs["grpo"] / "outputs/metrics.json").read_text())
    print(f"\nwarm-up and GRPO finished in {time.time() - started:.0f} s\n")
    print("| model | greedy acc ± s.e. | majority@8 | questions |\n|---|---|---|---|")
    for name, label in (("evaluate_start", "warm SFT model"), ("evaluate_grpo", f"after {args.steps} GRPO steps")):
        g, se, m, n = scores(runs[name])
        print(f"| {label} | {g:.3f} ± {se:.3f} | {m:.3f} | {n} |")
    print(f"\nGRPO reward: first logged {grpo['reward_first']:.3f}, last {grpo['reward_last']:.3f}, mean "
          f"{grpo['reward']:.3f}; groups with no reward variance: {grpo['frac_reward_zero_std']:.3f} on average; "
          f"answer length {grpo['completion_length']:.1f} tokens")
    report("grpo-demo", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
