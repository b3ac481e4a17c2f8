"""Demo (not a test): the formula_dpo route long enough for a tiny VLM to learn something.

Synthetic formulas rendered with mathtext, a small random LLaVA-style model (its BPE
tokenizer trained on the grammar's formulas), SFT for several epochs, evaluation of the
SFT model on both splits (with extra samples on the training split), pairs mined from
its mistakes, DPO against the SFT model, evaluation again; then `labspec report`.
Everything runs here on the local executor; the figures are whatever this run measures.

    .venv/bin/python demos/formula_dpo.py [--out runs/demo-formula] [--train 1500] [--epochs 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import REPO, launch, report  # demos/common.py (scripts run with demos/ on sys.path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-formula")
    ap.add_argument("--train", type=int, default=1500)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--dpo-epochs", type=int, default=2)
    ap.add_argument("--max-depth", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from runtime.fixtures.tiny import build_vlm, formula_corpus

    model = args.out / "assets" / "formula-vlm"
    if not (model / "config.json").exists():
        params = build_vlm(model, formula_corpus(5000, 0), seed=0, image_size=64, vision_hidden=96,
                           text_hidden=128, vocab_size=512)
        print(f"built {model} ({params / 1e6:.2f}M parameters)", flush=True)
    overrides = {
        "name": "formula-dpo-demo",
        "output_root": str(args.out),
        "model.name_or_path": str(model),
        "model.num_parameters": "560k",
        "formula.dataset.synthetic.n_train": args.train,
        "formula.dataset.synthetic.n_test": args.test,
        "formula.dataset.synthetic.max_depth": args.max_depth,
        "formula.dataset.synthetic.dpi": 72,
        "formula.mining": "{pairs_per_image: 2, extra_samples: 4, temperature: 1.0}",
        "formula.evaluation.generation": "{max_new_tokens: 64, batch_size: 32, backend: hf}",
        "training.lr": 1e-3,
        "training.epochs": args.epochs,
        "training.global_batch_size": 16,
        "training.micro_batch_size": 16,
        "training.warmup_ratio": 0.05,
        "training.logging_steps": 10,
        "resources.procs_per_node": 1,
        "resources.time": "04:00:00",
        "stages.dpo.training": f"{{lr: 5.0e-5, epochs: {args.dpo_epochs}, global_batch_size: 16}}",
        "deepspeed.zero_stage": 0,
    }
    started = time.time()
    launch(REPO / "specs/examples/formula_dpo-tiny.yaml", overrides)
    print(f"route finished in {time.time() - started:.0f} s", flush=True)
    report("formula-dpo-demo", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
