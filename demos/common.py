"""What every demo does: launch a spec on the local executor with overrides, then print
`labspec report` for it; and the arithmetic reasoner the reasoning demos share (its data,
its model, its warm-up on worked solutions)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABSPEC = str(REPO / ".venv/bin/labspec")


def launch(spec: Path, overrides: dict[str, object]) -> None:
    argv = [LABSPEC, "launch", str(spec), "--executor", "local", "--yes", "--allow-dirty"]
    for key, value in overrides.items():
        argv += ["-o", f"{key}={value}"]
    subprocess.run(argv, check=True, cwd=REPO)


def mean_se(values: list[float]) -> tuple[float, float]:
    """The mean of per-question outcomes and its standard error (0 for a single value); for
    a paired difference pass the per-question differences."""
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1)
    return m, math.sqrt(var / len(values))


def newest(root: Path, stage: str) -> Path:
    """The latest run directory of `stage` under an experiment's folder."""
    found = sorted(root.glob(f"{stage}-*"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"no run {stage}-* under {root}")
    return found[-1]


def report(experiment: str, root: Path) -> None:
    subprocess.run([LABSPEC, "report", experiment, "--root", str(root)], check=True, cwd=REPO)


def arithmetic_assets(assets: Path, max_operand: int = 30) -> Path:
    """Synthetic sums and differences of operands up to `max_operand` (1,000 training
    questions with worked solutions, 200 held out), worked solutions for a quarter of the
    training questions, and a random 4-layer, width-128 Qwen2-shaped model with a tokenizer
    fit to them."""
    import random
    import sys

    sys.path.insert(0, str(REPO))
    from runtime.fixtures.tiny import arithmetic, build_lm, build_tokenizer, corpus, write_jsonl
    from runtime.reasoning.chains import gold_parts, prompt

    train_rows = [{"question": r["prompt"], "answer": f"{r['prompt'][8:-1]} = {r['completion']} #### {r['completion']}"}
                  for r in arithmetic(1000, 21, max_operand=max_operand)]
    test_rows = [{"question": r["prompt"], "answer": r["completion"]}
                 for r in arithmetic(200, 22, max_operand=max_operand)]
    write_jsonl(assets / "train.jsonl", train_rows)
    write_jsonl(assets / "test.jsonl", test_rows)
    warm = random.Random(0).sample(train_rows, len(train_rows) // 4)
    write_jsonl(assets / "warmup.jsonl", [{"prompt": prompt(r["question"]), "completion":
                                          f"{gold_parts(r['answer'])[0]}. The answer is {gold_parts(r['answer'])[1]}."}
                                         for r in warm])
    if not (assets / "lm" / "config.json").exists():
        texts = corpus([{"prompt": r["question"], "completion": r["answer"]} for r in train_rows])
        build_lm(assets / "lm", build_tokenizer(assets / "lm", texts + [prompt("x")]), seed=0, hidden=128, layers=4)
    return assets


def warm_up(out: Path, assets: Path, steps: int) -> Path:
    """The weak reasoner: the random model fine-tuned on the worked solutions; its final checkpoint."""
    import json

    spec = out / "warmup.yaml"
    spec.write_text(json.dumps({
        "name": "reasoning-warmup", "kind": "sft", "output_root": str(out),
        "model": {"name_or_path": str(assets / "lm"), "dtype": "fp32"},
        "data": {"train": str(assets / "warmup.jsonl")},
        "training": {"lr": 3e-3, "max_steps": steps, "global_batch_size": 16, "micro_batch_size": 8,
                     "precision": "fp32", "max_length": 128, "logging_steps": 20, "save_steps": steps},
        "deepspeed": {"zero_stage": 2},
        "resources": {"gpus_per_node": 0, "procs_per_node": 2, "cpus_per_task": 2, "time": 60}}))
    launch(spec, {})
    return next((out / "reasoning-warmup").glob("sft-*")) / "checkpoints" / "final"
