"""Benchmark: RADIO distillation throughput (images/s) with the teachers run online against
cached teacher outputs, on the tiny setup (three random teachers at 32-64 px, a 2-layer
student), same steps and batch, one process, side by side in one run.

    .venv/bin/python bench/distill_throughput.py [STEPS]

The cached run reads fp16 teacher outputs from disk instead of running the teachers (so
it needs `augment: false`: the features of a flipped image are not the flipped features);
building the cache is a one-off pass over the images, reported separately.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def distill_run(root: Path, assets: Path, name: str, cached: bool, steps: int) -> Path:
    spec = root / f"{name}.yaml"
    text = (REPO / "specs/examples/radio-tiny.yaml").read_text().replace("runs/assets", str(assets))
    spec.write_text(text.replace("extends: radio.yaml", f"extends: {REPO / 'specs/examples/radio.yaml'}")
                    .replace("name: radio-tiny", f"name: {name}"))
    overrides = [f"training.max_steps={steps}", "training.micro_batch_size=16", "training.global_batch_size=16",
                 "training.logging_steps=1000", f"training.save_steps={steps}", "radio.distill.augment=false",
                 f"radio.distill.cache_teachers={str(cached).lower()}", "deepspeed.zero_stage=0",
                 "resources.procs_per_node=1"]
    argv = [str(REPO / ".venv/bin/labspec"), "compile", str(spec), "--emit", str(root / "runs"), "--format", "json"]
    for o in overrides:
        argv += ["-o", o]
    plan = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, cwd=REPO).stdout)
    return Path(next(r["run_dir"] for r in plan["runs"] if r["stage"] == "distill"))


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    sys.path.insert(0, str(REPO))
    from runtime.fixtures.tiny import build_all

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_all(root / "assets")
        figures = {}
        for name, cached in (("online", False), ("cached", True)):
            run_dir = distill_run(root, root / "assets", name, cached, steps)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "runtime", str(run_dir)], check=True, cwd=REPO,
                           capture_output=True)
            wall = time.perf_counter() - started
            m = json.loads((run_dir / "outputs/metrics.json").read_text())
            figures[name] = (m["train_samples_per_second"], m["train_runtime"], wall)
        print(f"RADIO distillation, tiny setup: {steps} steps x 16 images, 1 process, 3 teachers (CLIP 32 px, "
              "DINOv2 32 px, SAM 64 px)")
        for name, (ips, runtime, wall) in figures.items():
            print(f"  {name:7s} teachers: {ips:8.1f} images/s  (training {runtime:6.2f} s; whole task {wall:6.1f} s)")
        print(f"  cached / online: {figures['cached'][0] / figures['online'][0]:.2f}x images/s "
              "(the cached task's wall time includes building the cache once)")


if __name__ == "__main__":
    main()
