"""GPU check: the rehearsal at real shapes (random weights, nothing shrunk) on one GPU, for
SFT and DPO at Qwen2.5-0.5B and for distillation into a ViT-B from CLIP, DINOv2 and SAM
ViT-B teachers. For each it prints throughput, MFU against the GPU's bf16 peak, and the
peak GPU memory next to labspec's own per-GPU estimate (`compiler.memory`).

Each case is a `labspec launch SPEC --rehearse --shapes real --gpus 1 --steps N` of an
example spec (trimmed to one grid point, one iteration, one MLLM variant), so what is
measured is the runtime's own path: DeepSpeed from the plan, TRL's trainers, the distill
task. `--cpu` runs the same at rehearsal size on the CPU (to test the script itself; MFU
and GPU memory are then n/a). Run it as `bench/gpu_check.sh [--cpu]`.

MFU counts 6 FLOPs per parameter per trained token (forward and backward) and 2 per
forward-only token (DPO's reference model, the frozen teachers), over the number of
tokens the trainer saw (rows x their mean tokenized length); attention's own FLOPs are left
out, as in the PaLM paper's MFU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "specs" / "examples"
H200_BF16_DENSE = 989.4e12  # NVIDIA H200 SXM data sheet, dense bf16 tensor FLOP/s
PEAKS = {"H200": H200_BF16_DENSE, "H100": 989.4e12, "A100": 312e12}


@dataclass(frozen=True)
class Case:
    name: str
    spec: str
    overrides: tuple[str, ...]
    trained: str  # the run whose figures are read


CASES = (
    Case("sft", "sft.yaml", ("model.name_or_path=Qwen/Qwen2.5-0.5B-Instruct", "model.num_parameters=0.5B",
                             "sweep.grid={}", "sweep.seeds=[0]", "peft.enabled=false"), "sft"),
    Case("dpo", "spin.yaml", ("spin.iterations=1", "spin.per_iteration={}"), "train_t0"),
    Case("distill", "radio.yaml", ("radio.mllm.variants=[student]",), "distill"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="rehearsal size on the CPU (tests this script)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per case (default 20, --cpu 2)")
    parser.add_argument("--root", default=None, help="where the runs go (default: a fresh folder in /tmp)")
    args = parser.parse_args(argv)
    steps = args.steps or (2 if args.cpu else 20)
    root = Path(args.root or f"/tmp/labspec-gpu-check-{int(time.time())}")
    peak, device = _device(args.cpu)
    print(f"gpu_check: {device}; {steps} steps a case; runs under {root}", flush=True)
    rows: list[tuple[str, ...]] = []
    for case in CASES:
        started = time.time()
        launched = _launch(case, root, steps, args.cpu)
        wall = time.time() - started
        if launched.returncode != 0:
            print(f"{case.name}: FAILED after {wall:.0f} s\n{launched.stderr[-3000:]}", flush=True)
            rows.append((case.name, "FAILED", "", "", "", f"{wall:.0f} s"))
            continue
        rows.append(_figures(case, root, peak, args.cpu, wall))
    header = ("case", "throughput", "MFU", "peak GPU memory", "labspec estimate", "wall")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
    stop_check = _stop_check(root / "sft", args.cpu)
    return 1 if any(r[1] == "FAILED" for r in rows) or stop_check != 0 else 0


def _stop_check(sft_root: Path, cpu: bool) -> int:
    """SFT with LoRA on the sft case's model (Qwen2.5-0.5B's shape on a GPU): the step time
    with no stop callback, with the old per-step sync, and with the runtime's (bench.stop_check)."""
    runs = list(sft_root.glob("*.rehearsal/sft-*/run.json"))
    if not runs:
        print("stop check: no sft run to take the model from", flush=True)
        return 1
    model = json.loads(runs[0].read_text())["task_config"]["model"]["name_or_path"]
    sizes = ["--steps", "4", "--warmup", "1", "--repeat", "1", "--seq", "32", "--cpu"] if cpu else []
    command = [sys.executable, "-m", "bench.stop_check", "--model", str(model), *sizes]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
                          capture_output=True, text=True)
    print(done.stdout if done.returncode == 0 else f"stop check: FAILED\n{done.stderr[-3000:]}", flush=True)
    return done.returncode


def _device(cpu: bool) -> tuple[float | None, str]:
    if cpu:
        return None, "CPU (--cpu: rehearsal size, no MFU)"
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no GPU here (torch.cuda.is_available() is False); use --cpu to test the script")
    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in PEAKS.items() if k in name), None)
    return peak, f"{name} (bf16 peak {peak / 1e12:.0f} TFLOP/s)" if peak else f"{name} (bf16 peak unknown)"


def _launch(case: Case, root: Path, steps: int, cpu: bool) -> subprocess.CompletedProcess[str]:
    shape = ["--shapes", "small"] if cpu else ["--shapes", "real", "--gpus", "1"]
    overrides = [x for o in (f"output_root={root / case.name}", *case.overrides) for x in ("-o", o)]
    command = [sys.executable, "-m", "launch", "launch", str(EXAMPLES / case.spec), "--rehearse",
               "--executor", "local", "-y", "--steps", str(steps), *shape, *overrides]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, check=False)


def _figures(case: Case, root: Path, peak: float | None, cpu: bool, wall: float) -> tuple[str, ...]:
    run_dir = next(p for p in (root / case.name).glob(f"*.rehearsal/{case.trained}-*") if p.is_dir())
    run = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "outputs" / "metrics.json").read_text())
    assets = _assets(root / case.name)
    if case.name == "distill":
        flops, rate, unit = _distill_flops(run, assets, metrics)
    else:
        flops, rate, unit = _lm_flops(case, run, assets, metrics)
    mfu = f"{100 * flops / peak:.1f}%" if peak and flops else "n/a"
    memory = metrics.get("peak_gpu_memory_gib")
    return (case.name, f"{rate:,.0f} {unit}/s", mfu, f"{memory:.1f} GiB" if memory is not None else "n/a",
            _estimate(case, run), f"{wall:.0f} s")


def _assets(root: Path) -> dict[str, Any]:
    path = next(root.glob("*.rehearsal/rehearsal_assets-*/outputs/assets.json"))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _lm_flops(case: Case, run: dict[str, Any], assets: dict[str, Any], metrics: dict[str, Any]
              ) -> tuple[float, float, str]:
    """(achieved FLOP/s, tokens/s, "tokens") of an SFT or DPO run."""
    from transformers import AutoTokenizer

    tc = run["task_config"]
    model = tc["model"]["name_or_path"]
    params = next(m["parameters"] for m in assets["models"].values())
    tokenizer = AutoTokenizer.from_pretrained(model)
    data = tc["data"]["path"] if case.name == "sft" else tc["pairs"]["path"]
    rows = [json.loads(line) for line in Path(data).read_text().splitlines() if line.strip()]
    if case.name == "sft":
        fields = (tc["data"]["prompt_field"], tc["data"]["completion_field"])
        lengths = [sum(len(tokenizer(str(r[f]))["input_ids"]) for f in fields) for r in rows]
        per_token = 6.0 * params
    else:  # chosen and rejected, each after the prompt; the policy trains, the reference model only reads
        lengths = [2 * len(tokenizer(str(r["prompt"]))["input_ids"]) + len(tokenizer(str(r["chosen"]))["input_ids"])
                   + len(tokenizer(str(r["rejected"]))["input_ids"]) for r in rows]
        per_token = 8.0 * params
    tokens_per_second = metrics["train_samples_per_second"] * sum(lengths) / len(lengths)
    return per_token * tokens_per_second, tokens_per_second, "tokens"


def _distill_flops(run: dict[str, Any], assets: dict[str, Any], metrics: dict[str, Any]
                   ) -> tuple[float, float, str]:
    """(achieved FLOP/s, images/s, "images") of the distill run: the student trains on its
    patches, each teacher reads the image at its own resolution."""
    tc = run["task_config"]
    student = tc["student"]
    width, depth = student["width"], student["depth"]
    student_params = 12 * width * width * depth  # a ViT block: 4 w^2 attention + 8 w^2 MLP
    flops_per_image = 6.0 * student_params * ((student["resolution"] // student["patch_size"]) ** 2 + 1)
    by_path = {m["path"]: m for m in assets["models"].values()}
    for teacher in tc["teachers"]:
        built = by_path[teacher["name_or_path"]]
        patch = 14 if teacher["family"] == "dinov2" else 16
        patches = (teacher["resolution"] // patch) ** 2
        flops_per_image += 2.0 * built["parameters"] * patches
    images_per_second = metrics.get("images_per_second") or metrics.get("train_samples_per_second", 0.0)
    return flops_per_image * images_per_second, images_per_second, "images"


def _estimate(case: Case, run: dict[str, Any]) -> str:
    """labspec's per-GPU estimate of the model states for this run (compiler.memory), as the
    plan would warn with it."""
    from compiler import memory
    from specs.loader import load_spec
    from specs.sections import TrainingSpec

    exp = load_spec(EXAMPLES / case.spec, list(case.overrides)).experiment
    if case.name == "distill" or exp.model is None or not exp.model.num_parameters:
        return "n/a"
    training = TrainingSpec.model_validate(run["training"])
    est = memory.training_states(exp.model.num_parameters, training, exp.stage_deepspeed(run["stage_type"]),
                                 run["world_size"], lora=run.get("peft") is not None,
                                 reference_model=run["task"] == "dpo")
    return f"{est.total / memory.GIB:.1f} GiB (states only)"


if __name__ == "__main__":
    sys.exit(main())
