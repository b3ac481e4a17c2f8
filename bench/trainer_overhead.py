"""Benchmark: the runtime's `sft` and `dpo` tasks against plain TRL scripts with the same
tiny model, data and settings (single CPU process, fp32), side by side in one session.

Both report TRL's own `train_runtime` (the training loop, without model loading); the
runtime's adds its TensorBoard logging, checkpoint-at-end and preemption callback.
Goal: the runtime under 5% slower. Each side runs REPEAT times; medians are compared.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPEAT = 3
STEPS = {"sft": 400, "dpo": 100}

PLAIN = """\
import json, sys
from datasets import load_dataset
from transformers import AutoTokenizer, AutoModelForCausalLM
from trl import SFTConfig, SFTTrainer, DPOConfig, DPOTrainer
task, lm, data, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
tok = AutoTokenizer.from_pretrained(lm)
common = dict(output_dir=out, per_device_train_batch_size=8, learning_rate=1e-3, max_steps=steps, logging_steps=10,
              report_to=[], save_strategy="no", bf16=False, use_cpu=True, max_length=64, seed=0, disable_tqdm=True,
              dataloader_num_workers=0, optim="adamw_torch", lr_scheduler_type="linear",
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
resources: {{gpus_per_node: 0, cpus_per_task: 2, time: 30}}
launcher: python
"""


def main() -> int:
    from runtime.fixtures.tiny import build_all

    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    venv = Path(sys.executable).parent
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        assets = Path(tmp, "assets")
        build_all(assets)
        lm, sft_data = assets / "tiny-lm", assets / "tiny-chat" / "train.jsonl"
        rng = random.Random(0)
        pairs = Path(tmp, "pairs.jsonl")
        with open(pairs, "w") as fh:
            for line in sft_data.read_text().splitlines()[:256]:
                r = json.loads(line)
                fh.write(json.dumps({"prompt": r["prompt"], "chosen": r["completion"],
                                     "rejected": str(int(r["completion"]) + rng.choice([-1, 1]))}) + "\n")
        plain = Path(tmp, "plain.py")
        plain.write_text(PLAIN)
        for task, data in (("sft", sft_data), ("dpo", pairs)):
            results[task] = {"runtime": [], "plain": []}
            for i in range(REPEAT):
                root = Path(tmp, f"runs-{task}-{i}")
                spec = Path(tmp, f"{task}-{i}.yaml")
                spec.write_text(SPEC.format(task=task, root=root, lm=lm, data=data, steps=STEPS[task]))
                subprocess.run([str(venv / "labspec"), "launch", str(spec), "--executor", "local", "--yes"],
                               check=True, capture_output=True, env=env, cwd=tmp)
                metrics = json.loads(next(root.rglob("outputs/metrics.json")).read_text())
                results[task]["runtime"].append(metrics["train_runtime"])
                out = subprocess.run([sys.executable, str(plain), task, str(lm), str(data), str(Path(tmp, "plain")),
                                      str(STEPS[task])], check=True, capture_output=True, text=True, env=env)
                results[task]["plain"].append(json.loads(out.stdout.strip().splitlines()[-1])["train_runtime"])
    print("training loop time (TRL's train_runtime), single CPU process, tiny Qwen2-shaped LM, fp32")
    for task, r in results.items():
        ours, theirs = statistics.median(r["runtime"]), statistics.median(r["plain"])
        print(f"  {task}: {STEPS[task]} steps  runtime {ours:6.2f} s  plain TRL {theirs:6.2f} s  "
              f"overhead {100 * (ours / theirs - 1):+5.1f}%   (runs: {r['runtime']} vs {r['plain']})")
    print("  goal: under 5% slower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
