"""Benchmark: what the runtime's `sft` and `dpo` tasks add per step over plain TRL scripts
with the same model, data and settings (single CPU process, fp32), in one session.

Three sides, each timed by TRL's own `train_runtime` (the training loop, without model
loading): the runtime (`labspec launch --executor local`, TensorBoard on); plain TRL with
the same logging (TensorBoard on, same logging_steps); plain TRL without TensorBoard. The
first comparison isolates what the runtime adds (its preemption check, the checkpoint at
the last step); the second shows what TensorBoard itself costs.

To tell a few percent from noise: the model is about 14x the tests' tiny one, each loop
runs at least `--seconds` (30 s; the step count is calibrated once per task), and the
sides run interleaved, A B C, B C A, C A B, ..., `--repeat` times (5). Each repetition
gives a paired difference; their median and spread (min, max) are printed.
Goal: the runtime at most 2% slower than plain TRL with the same logging.

    .venv/bin/python -m bench.trainer_overhead [--repeat 5] [--seconds 30] [--tasks sft dpo]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HIDDEN, LAYERS = 192, 4  # the tests' tiny-lm is 64 x 2
SIDES = ("runtime", "plain+tb", "plain")

PLAIN = """\
import json, os, sys
from datasets import load_dataset
from transformers import AutoTokenizer, AutoModelForCausalLM
from trl import SFTConfig, SFTTrainer, DPOConfig, DPOTrainer
task, lm, data, out, steps, tb = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
if tb != "-":
    os.environ["TENSORBOARD_LOGGING_DIR"] = tb  # where transformers 5 puts the events
tok = AutoTokenizer.from_pretrained(lm)
common = dict(output_dir=out, per_device_train_batch_size=8, learning_rate=1e-3, max_steps=steps, logging_steps=10,
              report_to=["tensorboard"] if tb != "-" else [], save_strategy="no", bf16=False, use_cpu=True,
              max_length=64, seed=0, disable_tqdm=True, dataloader_num_workers=0, optim="adamw_torch",
              lr_scheduler_type="linear",
              gradient_checkpointing=False)  # as the spec says (TRL 1.16 turns it on by default)
ds = load_dataset("json", data_files=data, split="train")
if task == "sft":
    ds = ds.map(lambda r: {"prompt": [{"role": "user", "content": r["prompt"]}],
                           "completion": [{"role": "assistant", "content": r["completion"]}]},
                remove_columns=ds.column_names)
    trainer = SFTTrainer(model=lm, args=SFTConfig(completion_only_loss=True, **common), train_dataset=ds,
                         processing_class=tok)
else:
    ds = ds.map(lambda r: {"prompt": [{"role": "user", "content": r["prompt"]}],
                           "chosen": [{"role": "assistant", "content": r["chosen"]}],
                           "rejected": [{"role": "assistant", "content": r["rejected"]}]},
                remove_columns=ds.column_names)
    load = AutoModelForCausalLM.from_pretrained
    trainer = DPOTrainer(model=load(lm), ref_model=load(lm), args=DPOConfig(beta=0.1, **common),
                         train_dataset=ds, processing_class=tok)
print(json.dumps(trainer.train().metrics))
"""

SPEC = """\
name: bench-{task}
kind: {task}
output_root: {root}
model: {{name_or_path: {lm}, dtype: fp32}}
data: {{train: {data}}}
training: {{lr: 1.0e-3, max_steps: {steps}, global_batch_size: 8, micro_batch_size: 8, precision: fp32,
           max_length: 64, logging_steps: 10, save_steps: 100000, optimizer: adamw, schedule: linear}}
deepspeed: {{enabled: false}}
resources: {{gpus_per_node: 0, cpus_per_task: 2, time: 60}}
launcher: python
"""


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
        self.labspec = Path(sys.executable).parent / "labspec"
        self.plain = tmp / "plain.py"
        self.plain.write_text(PLAIN)
        self.count = 0
        self.lm, self.data, self.params = build_assets(tmp / "assets")

    def run(self, side: str, task: str, steps: int) -> float:
        """One training loop of `steps` steps: TRL's train_runtime in seconds."""
        self.count += 1
        where = self.tmp / f"{side}-{task}-{self.count}"
        if side == "runtime":
            spec = where.with_suffix(".yaml")
            spec.write_text(SPEC.format(task=task, root=where, lm=self.lm, data=self.data[task], steps=steps))
            subprocess.run([str(self.labspec), "launch", str(spec), "--executor", "local", "--yes"],
                           check=True, capture_output=True, env=self.env, cwd=self.tmp)
            return float(json.loads(next(where.rglob("outputs/metrics.json")).read_text())["train_runtime"])
        tb = str(where / "tb") if side == "plain+tb" else "-"
        out = subprocess.run([sys.executable, str(self.plain), task, str(self.lm), str(self.data[task]), str(where),
                              str(steps), tb], check=True, capture_output=True, text=True, env=self.env)
        return float(json.loads(out.stdout.strip().splitlines()[-1])["train_runtime"])


def build_assets(root: Path) -> tuple[Path, dict[str, Path], int]:
    """The tests' arithmetic chat data and tokenizer, a Qwen2-shaped LM HIDDEN x LAYERS,
    and DPO pairs (the right answer against one off by one)."""
    from runtime.fixtures.tiny import arithmetic, build_lm, build_tokenizer, corpus, write_jsonl

    rows = arithmetic(512, 0)
    lm = root / "bench-lm"
    params = build_lm(lm, build_tokenizer(lm, corpus(rows)), 0, hidden=HIDDEN, layers=LAYERS)
    write_jsonl(root / "chat.jsonl", rows)
    rng = random.Random(0)
    write_jsonl(root / "pairs.jsonl", [{"prompt": r["prompt"], "chosen": r["completion"],
                                        "rejected": str(int(r["completion"]) + rng.choice([-1, 1]))}
                                       for r in rows[:256]])
    return lm, {"sft": root / "chat.jsonl", "dpo": root / "pairs.jsonl"}, params


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):+5.1f}%  min {min(values):+5.1f}%  max {max(values):+5.1f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=30.0, help="the shortest training loop")
    ap.add_argument("--tasks", nargs="+", default=["sft", "dpo"], choices=["sft", "dpo"])
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        print(f"single CPU process, fp32, Qwen2-shaped LM {HIDDEN}x{LAYERS} ({bench.params / 1e6:.2f} M parameters), "
              f"batch 8, logging_steps 10; {opts.repeat} interleaved repetitions, loops of at least "
              f"{opts.seconds:.0f} s", flush=True)
        for task in opts.tasks:
            calibration = bench.run("plain", task, 100)  # the first steps are slower: aim a third above
            steps = 10 * math.ceil(opts.seconds / (calibration / 100) / 10 * 1.35)
            times: dict[str, list[float]] = {side: [] for side in SIDES}
            for rep in range(opts.repeat):
                for side in SIDES[rep % 3:] + SIDES[:rep % 3]:  # A B C, B C A, C A B, ...
                    times[side].append(bench.run(side, task, steps))
                print(f"  {task} repetition {rep + 1}: " + "  ".join(f"{s} {times[s][-1]:.2f} s" for s in SIDES),
                      flush=True)
            added = [100 * (r / p - 1) for r, p in zip(times["runtime"], times["plain+tb"], strict=True)]
            tb_cost = [100 * (p / q - 1) for p, q in zip(times["plain+tb"], times["plain"], strict=True)]
            total = [100 * (r / q - 1) for r, q in zip(times["runtime"], times["plain"], strict=True)]
            print(f"{task}: {steps} steps per loop; median loop: "
                  + ", ".join(f"{s} {statistics.median(times[s]):.2f} s" for s in SIDES)
                  + f"; shortest loop {min(min(t) for t in times.values()):.2f} s")
            print(f"  runtime vs plain TRL with TensorBoard (what the runtime adds): {spread(added)}")
            print(f"  plain TRL with vs without TensorBoard (what TensorBoard costs): {spread(tb_cost)}")
            print(f"  runtime vs plain TRL without TensorBoard:                       {spread(total)}", flush=True)
    print("goal: the runtime's paired median at most 2% over plain TRL with the same logging")
    return 0


if __name__ == "__main__":
    sys.exit(main())
