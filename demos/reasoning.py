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
import json
import random
import sys
import time
from pathlib import Path

from common import REPO, launch, report  # demos/common.py (scripts run with demos/ on sys.path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-reasoning")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--warmup-steps", type=int, default=300)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from runtime.fixtures.tiny import arithmetic, build_lm, build_tokenizer, corpus, write_jsonl
    from runtime.reasoning.chains import gold_parts, prompt

    assets = args.out / "assets"
    train_rows = [{"question": r["prompt"], "answer": f"{r['prompt'][8:-1]} = {r['completion']} #### {r['completion']}"}
                  for r in arithmetic(1000, 21, max_operand=30)]
    test_rows = [{"question": r["prompt"], "answer": r["completion"]} for r in arithmetic(200, 22, max_operand=30)]
    write_jsonl(assets / "train.jsonl", train_rows)
    write_jsonl(assets / "test.jsonl", test_rows)
    warm = random.Random(0).sample(train_rows, len(train_rows) // 4)
    write_jsonl(assets / "warmup.jsonl", [{"prompt": prompt(r["question"]), "completion":
                                          f"{gold_parts(r['answer'])[0]}. The answer is {gold_parts(r['answer'])[1]}."}
                                         for r in warm])
    if not (assets / "lm" / "config.json").exists():
        texts = corpus([{"prompt": r["question"], "completion": r["answer"]} for r in train_rows])
        build_lm(assets / "lm", build_tokenizer(assets / "lm", texts + [prompt("x")]), seed=0, hidden=128, layers=4)
    started = time.time()
    warm_spec = args.out / "warmup.yaml"
    warm_spec.write_text(json.dumps({
        "name": "reasoning-warmup", "kind": "sft", "output_root": str(args.out),
        "model": {"name_or_path": str(assets / "lm"), "dtype": "fp32"},
        "data": {"train": str(assets / "warmup.jsonl")},
        "training": {"lr": 3e-3, "max_steps": args.warmup_steps, "global_batch_size": 16, "micro_batch_size": 8,
                     "precision": "fp32", "max_length": 128, "logging_steps": 20, "save_steps": args.warmup_steps},
        "deepspeed": {"zero_stage": 2},
        "resources": {"gpus_per_node": 0, "procs_per_node": 2, "cpus_per_task": 2, "time": 60}}))
    launch(warm_spec, {})
    weak = next((args.out / "reasoning-warmup").glob("sft-*")) / "checkpoints" / "final"
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
        "reasoning.planner_solver.enabled": "false",
        "training.lr": 1e-3, "training.global_batch_size": 16, "training.micro_batch_size": 8,
    })
    print(f"warm-up and bootstrap finished in {time.time() - started:.0f} s", flush=True)
    report("reasoning-demo", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
