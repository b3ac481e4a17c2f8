"""The one-screen summary shown before anything is submitted."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.plan import Plan
    from launch.launcher import Selection


def summary(plan: Plan, sel: Selection, executor: str) -> str:
    stages = Counter(r.stage_type for r in sel.submit)
    gpu_h = sum(r.resources["nodes"] * r.resources["gpus_per_node"] * r.resources["time_min"]
                for r in sel.submit) / 60
    cpu_h = sum(r.resources["nodes"] * r.resources["cpus_per_task"] * r.resources["time_min"]
                for r in sel.submit) / 60
    lines = [f"{plan.experiment} ({plan.kind}) -> {executor}: {len(plan.runs)} runs in the plan, "
             f"{len(sel.submit)} to {'submit' if executor == 'slurm' else 'run'}"]
    if sel.submit:
        lines.append("  stages: " + ", ".join(f"{s} x{n}" for s, n in stages.items()))
        lines.append(f"  at most {gpu_h:,.1f} GPU-hours, {cpu_h:,.1f} CPU-hours (time limits x resources)")
    skipped = Counter(sel.skipped.values())
    if skipped:
        lines.append("  left alone: " + ", ".join(f"{n} {why}" for why, n in skipped.items()))
    if sel.blocked:
        lines.append(f"  cannot start (an upstream run failed): {len(sel.blocked)}")
    lines.append(f"  run dirs under {plan.output_root}/{plan.experiment}")
    return "\n".join(lines)
