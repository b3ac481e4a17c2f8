"""Benchmark: the generate task with `backend: hf` and with `backend: vllm`, side by side in one
run, on the same model and prompts: new tokens per second (start-up excluded), start-up time,
peak memory, and whether the greedy answers agree.

Each backend runs as a stage does, `python -m runtime RUN_DIR` in its own environment: hf in
this one, vllm in the vLLM environment (scripts/setup_vllm.sh; `--vllm-python`).

  CPU (default): the fixtures' tiny-lm-h32 (fp32, heads of 32), 128 prompts x 32 new tokens.
  --gpu: a random Qwen2.5-0.5B-shaped model (the rehearsal's real shapes), 1,024 prompts x 256
         new tokens, bf16; the issue's goal there is vllm >= 10x hf's tokens/s.

Peak memory is the largest resident set of the run's processes (vLLM's engine runs in a
process of its own), and on a GPU the most `nvidia-smi` saw in use.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="Qwen2.5-0.5B shapes, 1,024 x 256 tokens, bf16")
    parser.add_argument("--vllm-python", default=str(REPO / ".venv-vllm" / "bin" / "python"))
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.prompts or (1024 if args.gpu else 128)
    new_tokens = args.new_tokens or (256 if args.gpu else 32)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, dtype, prompts = _model(root, args.gpu, n)
        rows = {}
        for backend, python in (("hf", sys.executable), ("vllm", args.vllm_python)):
            if not Path(python).exists():
                print(f"{backend}: {python} does not exist (scripts/setup_vllm.sh builds it); skipped")
                continue
            rows[backend] = _run(root / backend, backend, python, model, dtype, prompts, new_tokens)
    where = "GPU, bf16, Qwen2.5-0.5B shapes" if args.gpu else "CPU (2 cores), fp32, tiny-lm-h32"
    print(f"generate task: {n} prompts x {new_tokens} new tokens, greedy; {where}")
    print(f"  {'backend':8} {'tokens/s':>10} {'start-up':>9} {'generation':>11} {'peak RSS':>9} {'peak GPU':>9}")
    for backend, r in rows.items():
        print(f"  {backend:8} {r['tokens_per_second']:10.1f} {r['startup']:8.1f}s {r['seconds']:10.1f}s "
              f"{r['rss_gib']:8.2f}G {r['gpu_gib'] if r['gpu_gib'] is not None else 'n/a':>9}")
    if len(rows) == 2:
        hf, vllm = rows["hf"], rows["vllm"]
        same = sum(a == b for a, b in zip(hf["answers"], vllm["answers"], strict=True))
        print(f"  vllm / hf tokens/s: {vllm['tokens_per_second'] / hf['tokens_per_second']:.2f}x "
              f"(goal on a GPU: >= 10x)   identical greedy answers: {same}/{len(hf['answers'])}")
    return 0 if rows else 1


def _model(root: Path, gpu: bool, n: int) -> tuple[Path, str, Path]:
    """The model folder, its dtype and a prompts file of n rows."""
    from runtime.fixtures.tiny import arithmetic, build_all

    if not gpu:
        build_all(root / "assets")
        return root / "assets" / "tiny-lm-h32", "fp32", _prompts(root, arithmetic(n, 7))
    from compiler.rehearsal import Rehearsal
    from runtime.rehearsal import models

    rehearsal = Rehearsal(shapes="real", root=str(root), base_dir=str(root))  # the rehearsal's real shapes
    path = Path(rehearsal.model("Qwen/Qwen2.5-0.5B-Instruct", "bench"))
    (spec,) = rehearsal.models.values()
    models.build(spec, path)
    return path, "bf16", _prompts(root, arithmetic(n, 7))


def _prompts(root: Path, rows: list[dict[str, Any]]) -> Path:
    from runtime.fixtures.tiny import write_jsonl

    path = root / "prompts.jsonl"
    write_jsonl(path, [{"prompt": f"Work this out step by step, then explain it twice: {r['prompt']}"} for r in rows])
    return path


def _run(run_dir: Path, backend: str, python: str, model: Path, dtype: str, prompts: Path,
         new_tokens: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from tests.launch_helpers import run_json

    config = run_json(run_dir, "generate", {
        "model": {"name_or_path": str(model), "dtype": dtype}, "prompts": {"path": str(prompts)},
        "generation": {"max_new_tokens": new_tokens, "batch_size": 64 if backend == "hf" else 1024,
                       "backend": backend}})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(config))
    gpu = _GpuPeak()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([python, "-m", "runtime", str(run_dir)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "LABSPEC_RUN_DIR": str(run_dir),
                               "VLLM_LOGGING_LEVEL": "WARNING"}, check=False)
    peak_gpu = gpu.stop()
    if done.returncode != 0:
        raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
    rss = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 2**20
    measured = json.loads((run_dir / "outputs" / "metrics.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "outputs" / "generations.jsonl").read_text().splitlines()]
    return {"tokens_per_second": measured["tokens_per_second"], "startup": measured["startup_seconds"],
            "seconds": measured["generation_seconds"], "rss_gib": rss, "gpu_gib": peak_gpu,
            "answers": [r["generations"][0] for r in rows]}


class _GpuPeak:
    """The most GPU memory nvidia-smi reports in use while a run goes (None without a GPU)."""

    def __init__(self) -> None:
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5, check=False).stdout
                used = sum(float(x) for x in out.split()) / 1024
                self.peak = max(self.peak or 0.0, used)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                return
            time.sleep(0.5)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join(timeout=10)
        return None if self.peak is None else round(self.peak, 2)


if __name__ == "__main__":
    sys.exit(main())
