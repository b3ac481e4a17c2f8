"""Task `smoke`: exercise the launch path (distributed init, all-reduce, checkpoints,
resume after requeue) without any model.

Every step each rank contributes value x (rank + 1); the all-reduced sum accumulates.
Rank 0 checkpoints every `checkpoint_every` steps and whenever a stop is requested; a
restarted run resumes from the checkpoint, so its final total equals an uninterrupted
run's: steps x value x W(W+1)/2.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from runtime.core import environment, results
from runtime.core.io import atomic_write_json, read_json
from runtime.core.preemption import EXIT_REQUEUE, StopFlag
from specs.tasks import RunConfig
from specs.tasks.generic import SmokeTask


def run(run: RunConfig, tc: SmokeTask) -> int:
    stop = StopFlag()
    world = environment.init()
    ckpt = Path(run.outputs["checkpoint"])
    state: dict[str, Any] = (read_json(ckpt) if ckpt.exists()
                             else {"step": 0, "total": 0.0, "restarts": 0, "resumed_from": []})
    if ckpt.exists():
        state["restarts"] += 1
        state["resumed_from"].append(state["step"])
        print(f"smoke: resuming from step {state['step']} (restart {state['restarts']})", flush=True)
    upstream = float(read_json(Path(tc.upstream))["result"]) if tc.upstream else 0.0
    if tc.fail:
        print("smoke: failing on purpose (smoke.fail_stage)", file=sys.stderr, flush=True)
        environment.finish()
        return 1

    steps, every = tc.steps, tc.checkpoint_every
    while state["step"] < steps:
        msg = torch.tensor([tc.value * (world.rank + 1), 1.0 if stop.requested else 0.0], dtype=torch.float64,
                           device="cuda" if torch.cuda.is_available() else "cpu")  # NCCL reduces GPU tensors
        dist.all_reduce(msg)
        state["total"] += float(msg[0])
        state["step"] += 1
        stopping = msg[1] > 0  # every rank stops at the same step
        if world.is_main and (state["step"] % every == 0 or stopping):
            atomic_write_json(ckpt, state)
        if stopping:
            print(f"smoke: {stop.signal or 'stop'} received; checkpointed at step {state['step']}", flush=True)
            dist.barrier()  # every rank has stopped and rank 0 has saved before anyone exits
            environment.finish()
            return EXIT_REQUEUE
        time.sleep(tc.step_seconds)

    if world.is_main:
        n = world.world_size
        results.finish(run, {
            "result": upstream + state["total"],
            "total": state["total"],
            "upstream": upstream,
            "expected_total": steps * tc.value * n * (n + 1) / 2,
            "steps": state["step"],
            "world_size": n,
            "restarts": state["restarts"],
            "resumed_from": state["resumed_from"],
            "hosts": os.environ.get("SLURM_JOB_NODELIST", "local"),
        }, primary="result", timeline=False)
    environment.finish()
    return 0
