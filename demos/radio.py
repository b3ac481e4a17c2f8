"""Demo (not a test): the radio route long enough to move the numbers.

Three random tiny teachers (CLIP-, DINOv2- and SAM-shaped; runtime.radio.teachers) are
distilled into a 4-layer student on synthetic shape images; the encoder evaluation measures
the student's fidelity to each teacher and kNN / linear-probe accuracy (shape classes) for
the student's heads and every teacher; then LLaVA-style models (projector on captions, then
projector + the tiny LM on questions about shape, colour and position) on one teacher, the
student and the teachers concatenated, evaluated on held-out questions. Random teachers
know nothing about images, so the question is whether the student reproduces them, not
whether they are good; the MLLM numbers compare encoders of that kind.

    .venv/bin/python demos/radio.py [--out runs/demo-radio] [--distill-steps 1500] [--mllm-steps 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import REPO, launch, report  # demos/common.py (scripts run with demos/ on sys.path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-radio")
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--distill-steps", type=int, default=1500)
    ap.add_argument("--mllm-steps", type=int, default=300)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from runtime.fixtures.shapes import write_sets
    from runtime.fixtures.tiny import build_all

    assets = args.out / "assets"
    build_all(assets)  # tiny teachers and the tiny LM
    shapes = assets / "demo-shapes"
    if not (shapes / "vqa-test.jsonl").exists():
        write_sets(shapes, seed=0, n_train=args.images, n_test=256)
    spec = args.out / "radio-demo.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    text = (REPO / "specs/examples/radio-tiny.yaml").read_text().replace("runs/assets/tiny-shapes", str(shapes))
    spec.write_text(text.replace("runs/assets", str(assets))
                    .replace("extends: radio.yaml", f"extends: {REPO / 'specs/examples/radio.yaml'}"))
    overrides = {
        "name": "radio-demo",
        "output_root": str(args.out),
        "radio.student": "{width: 64, depth: 4, heads: 4, patch_size: 8, resolution: 32, registers: 2}",
        "training.max_steps": args.distill_steps,
        "training.save_steps": args.distill_steps,
        "training.global_batch_size": 32,
        "training.micro_batch_size": 16,
        "training.warmup_steps": 50,
        "training.logging_steps": 50,
        "radio.mllm.pretrain_steps": args.mllm_steps // 2,
        "stages.mllm.training": f"{{lr: 1.0e-3, max_steps: {args.mllm_steps}, global_batch_size: 16, "
                                f"micro_batch_size: 8, warmup_steps: 10, save_steps: {args.mllm_steps}}}",
    }
    started = time.time()
    launch(spec, overrides)
    print(f"radio route finished in {time.time() - started:.0f} s", flush=True)
    report("radio-demo", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
