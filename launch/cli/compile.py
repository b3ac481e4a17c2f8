"""`labspec compile SPEC`: the dry run. Shows exactly what would run, submits nothing.

--format table (default): one row per run; scripts: each run's launch script and
DeepSpeed config; json: everything, for tools. --emit [DIR] also writes the run dirs.
--check-cluster also checks every run against the SLURM cluster's partitions (the check
`labspec launch` makes before submitting); its findings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from launch.cli_support import add_overrides, add_rehearsal, load_and_compile, rehearsal_of

if TYPE_CHECKING:
    from compiler.plan import Plan
    from specs.loader import LoadedSpec


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="spec file (.yaml, or a .py module you trust)")
    add_overrides(parser)
    parser.add_argument("--format", choices=("table", "scripts", "json"), default="table")
    parser.add_argument(
        "--emit", nargs="?", const="", default=None, metavar="DIR",
        help="write the run dirs (run.json, deepspeed.json, launch.sh, provenance.json) "
        "under DIR, or under the spec's output_root when DIR is omitted; submits nothing",
    )
    add_rehearsal(parser)
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="with --rehearse: the executor it is planned for (resources differ)")
    parser.add_argument("--check-cluster", action="store_true",
                        help="check every run against this SLURM cluster's partitions (sinfo), as launch does "
                        "before submitting: exit 1 with each problem at its spec line, else say where each stage fits")


def run(args: argparse.Namespace) -> int:
    executor = "slurm" if args.check_cluster else args.executor
    loaded, plan = load_and_compile(args.spec, args.overrides, output_root=args.emit or None,
                                    rehearsal=rehearsal_of(args, executor))
    out = sys.stdout
    if args.format == "json":
        # compact, one shot: json's C encoder. json.dump and indent= take the pure-Python
        # encoder, slower than compiling 1,000 runs (pipe through `python -m json.tool`)
        out.write(json.dumps(plan.to_json(), separators=(",", ":")) + "\n")
    elif args.format == "scripts":
        out.write(scripts(plan))
    else:
        out.write(table(plan))
    if args.emit is not None:
        from launch.emit import emit

        written = emit(plan, loaded)
        print(f"wrote {written} run dirs under {plan.output_root}/{plan.experiment}", file=sys.stderr)
    if args.check_cluster:
        check_cluster(loaded, plan)
    return 0


def check_cluster(loaded: LoadedSpec, plan: Plan) -> None:
    """Every run against the cluster, as `launch` checks before submitting; ClusterMismatch
    (exit 1) lists every problem. Nothing is submitted either way."""
    from launch.executors.slurm import SlurmExecutor
    from launch.executors.slurm.preflight import Preflight

    executor = SlurmExecutor(preflight=Preflight(unreadable_hint="is this a SLURM login node? (check SLURM_CONF)"))
    executor.check_fit(list(plan.runs), loaded, lambda line: print(line, file=sys.stderr))


def table(plan: Plan) -> str:
    rows = [("STAGE", "NAME", "ID", "DEPENDS ON", "NODES x GPUS", "TIME")]
    for r in plan.runs:
        res = r.resources
        rows.append((
            r.stage_type, r.name, r.id, _deps(r.depends_on),
            f"{res['nodes']}x{res['gpus_per_node']}" + (f" ({res['procs_per_node']} procs)"
                                                         if res["gpus_per_node"] == 0 else ""),
            res["time"],
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    gpu_hours = sum(r.resources["nodes"] * r.resources["gpus_per_node"] * r.resources["time_min"]
                    for r in plan.runs) / 60
    lines.append(f"\n{plan.experiment} ({plan.kind}): {len(plan.runs)} runs, "
                 f"at most {gpu_hours:,.0f} GPU-hours, under {plan.output_root}/{plan.experiment}")
    return "\n".join(lines) + "\n"


def _deps(ids: tuple[str, ...]) -> str:
    if not ids:
        return "-"
    shown = ",".join(ids[:2])
    return shown + (f" +{len(ids) - 2} more" if len(ids) > 2 else "")


def scripts(plan: Plan) -> str:
    parts = []
    for r in plan.runs:
        parts.append(f"### run {r.name} ({r.id}) -> {r.run_dir}/launch.sh\n{r.script}")
        if r.deepspeed is not None:
            parts.append(f"### {r.run_dir}/deepspeed.json\n{json.dumps(r.deepspeed, indent=2)}\n")
    return "\n".join(parts)
