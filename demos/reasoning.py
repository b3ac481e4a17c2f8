"""Demo (not a test): the STaR bootstrap for several iterations on synthetic arithmetic.

A small random Qwen2-shaped model (4 layers, width 128) is first fine-tuned on worked
solutions for a quarter of the training questions (a weak reasoner: it has seen the
format, and gets some answers right); then STaR iterations sample k chains per training
question, keep the right ones (rationalising unsolved questions with the answer as a
hint), fine-tune the base model on them with growing steps, and evaluate on held-out
questions: greedy and majority-vote accuracy. Per-iteration coverage and accuracy come
from `labspec report`. Everything runs here on the local executor.

    .venv/bin/python demos/reasoning.py [--out runs/demo-reasoning] [--iterations 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import REPO, arithmetic_assets, launch, report, warm_up  # demos/common.py (demos/ on sys.path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-reasoning")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--warmup-steps", type=int, default=300)
    args = ap.parse_args()
    started = time.time()
    assets = arithmetic_assets(args.out / "assets")
    weak = warm_up(args.out, assets, args.warmup_steps)
    spec = args.out / "reasoning-demo.yaml"
    spec.write_text((REPO / "specs/examples/reasoning-tiny.yaml").read_text().replace(
        "extends: reasoning.yaml", f"extends: {REPO / 'specs/examples/reasoning.yaml'}"))
    launch(spec, {
        "name": "reasoning-demo", "output_root": str(args.out), "model.name_or_path": str(weak),
        "model.num_parameters": "1M", "data.train": str(assets / "train.jsonl"),
        "data.test": str(assets / "test.jsonl"),
        "reasoning.bootstrap": f"{{iterations: {args.iterations}, samples_per_question: 4, temperature: 0.8, "
                               "max_new_tokens: 32, few_shot: 0, include_gold: false, base_steps: 150, shards: 2}",
        "reasoning.evaluation": "{majority_k: 8, temperature: 0.8}",
        "reasoning.planner_solver.enabled": "false", "reasoning.grpo": "null",
        "training.lr": 1e-3, "training.global_batch_size": 16, "training.micro_batch_size": 8,
    })
    print(f"warm-up and bootstrap finished in {time.time() - started:.0f} s", flush=True)
    report("reasoning-demo", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
