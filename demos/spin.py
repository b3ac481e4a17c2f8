"""Demo (not a test): SPIN for several iterations on a task a small model can learn.

A random Qwen2-shaped model (4 layers, width 128; BPE tokenizer trained here) is fine-tuned
on synthetic arithmetic (operands up to 30), so that it is right sometimes and wrong
often; then SPIN iterations, each on a fresh half of the training prompts, keep the
previous iteration's pairs and train against the previous model. Held-out accuracy and the
reward margin per iteration come from `labspec report`; the generation throughput of each
iteration is in its row too. Everything runs here on the local executor.

    .venv/bin/python demos/spin.py [--out runs/demo-spin] [--iterations 3] [--sft-steps 1500] [--spin-lr 2e-5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import REPO, launch, report  # demos/common.py (scripts run with demos/ on sys.path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-spin")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--sft-steps", type=int, default=1500)
    ap.add_argument("--spin-steps", type=int, default=150)
    ap.add_argument("--spin-lr", type=float, default=2e-5)
    ap.add_argument("--max-operand", type=int, default=30)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from runtime.fixtures.tiny import arithmetic, build_lm, build_tokenizer, corpus, write_jsonl

    assets = args.out / "assets"
    if not (assets / "lm" / "config.json").exists():
        train, test = (arithmetic(4000, 10, max_operand=args.max_operand),
                       arithmetic(400, 11, max_operand=args.max_operand))
        write_jsonl(assets / "train.jsonl", train)
        write_jsonl(assets / "test.jsonl", test)
        params = build_lm(assets / "lm", build_tokenizer(assets / "lm", corpus(train)), seed=0, hidden=128, layers=4)
        print(f"built {assets / 'lm'} ({params / 1e6:.2f}M parameters)", flush=True)
    overrides = {
        "name": "spin-demo",
        "output_root": str(args.out),
        "model.name_or_path": str(assets / "lm"),
        "data.train": str(assets / "train.jsonl"),
        "data.test": str(assets / "test.jsonl"),
        "spin.iterations": args.iterations,
        "spin.per_iteration": "{}",
        "spin.evaluation.max_samples": 400,
        "spin.generation.batch_size": 128,
        "training.max_steps": args.spin_steps,
        "training.lr": args.spin_lr,
        "training.save_steps": args.spin_steps,
        "training.global_batch_size": 16,
        "training.micro_batch_size": 8,
        "training.logging_steps": 10,
        "stages.sft.training": f"{{optimizer: adamw, lr: 3.0e-3, max_steps: {args.sft_steps}, "
                               f"save_steps: {args.sft_steps}}}",
    }
    started = time.time()
    launch(REPO / "specs/examples/spin-tiny.yaml", overrides)
    print(f"SPIN finished in {time.time() - started:.0f} s", flush=True)
    report("spin-demo", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
