"""`labspec status [EXPERIMENT | RUN]`: every run's state, refreshed from SLURM; with
`--details`, each run's code snapshot and the environment it ran in (environment.json)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from launch.cli_support import add_root, open_target
from launch.jsonfile import numbers, read_object


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", metavar="EXPERIMENT", help="experiment name, spec file or run")
    add_root(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--details", action="store_true",
                        help="also each run's code snapshot and environment (Python, packages, GPUs, hosts)")


def run(args: argparse.Namespace) -> int:
    from launch import ledger as L
    from launch.refresh import refresh

    ledger, experiment = open_target(args.target, args.root)
    with ledger:
        runs = refresh(ledger, experiment)
        if args.target and experiment is None:  # a run
            one = ledger.find(args.target).id
            runs = [r for r in runs if r.id == one]
        rows: list[dict[str, Any]] = []
        for rec in runs:
            r = rec
            rows.append({
                "id": r.id, "name": r.name, "experiment": r.experiment, "stage": r.stage, "state": r.state,
                "job_id": r.job_id, "executor": r.executor, "elapsed_s": round(r.elapsed, 1) if r.elapsed else None,
                "last_metric": last_metric(r.run_dir), "detail": r.detail, "run_dir": r.run_dir,
                "run_dir_gone": not Path(r.run_dir, "run.json").is_file(),
                "events": [{"state": s, "at": at, "detail": d} for s, at, d in ledger.events(r.id)],
            })
            if args.details:
                rows[-1].update(details(r.run_dir, r.code))
    if args.format == "json":
        print(json.dumps({"ledger": str(ledger.path), "runs": rows}, indent=2))
        return 0
    header = ("RUN", "ID", "STAGE", "JOB", "STATE", "ELAPSED", "LAST METRIC")
    table = [header] + [(row["name"], row["id"], row["stage"], row["job_id"] or "-", _state(row),
                         _duration(row["elapsed_s"]), row["last_metric"] or "-") for row in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    for row in rows if args.details else ():
        print(f"\n{row['name']} ({row['id']})\n" + show_details(row))
    for row in rows:
        if row["state"] in L.FAILED_STATES and row["state"] not in (L.CANCELLED, L.UPSTREAM_FAILED):
            print(f"\n{row['name']} ({row['id']}) {row['state']}: last lines of its error log:")
            print(error_tail(row["run_dir"]) or "  (no error log)")
        elif row["state"] == L.UPSTREAM_FAILED:
            print(f"\n{row['name']} ({row['id']}) cannot start: {row['detail']}")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    print("\n" + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()), file=sys.stderr)
    return 0


def details(run_dir: str, code_id: str | None) -> dict[str, Any]:
    """A run's code snapshot (from its provenance) and recorded environment (None: not yet)."""
    prov = read_object(Path(run_dir, "provenance.json")) or {}
    code = prov.get("code") if isinstance(prov.get("code"), dict) else None
    if code is None and code_id:
        code = {"id": code_id}
    if code is not None and code.get("dir"):
        code = {**code, "present": Path(str(code["dir"]), "manifest.json").is_file()}
    return {"code": code, "environment": read_object(Path(run_dir, "environment.json"))}


def show_details(row: dict[str, Any]) -> str:
    lines = []
    code, env = row.get("code"), row.get("environment")
    if code:
        where = code.get("dir", "?") + ("" if code.get("present", True) else " (gone)")
        lines.append(f"  code: snapshot {code.get('id')} at {where}, commit {code.get('commit') or '-'}"
                     + (" with uncommitted changes" if code.get("dirty") else ""))
    else:
        lines.append("  code: no snapshot recorded (launched before snapshots, or by hand)")
    if not env:
        lines.append("  environment: not recorded yet (it is written when the run starts)")
        return "\n".join(lines)
    gpus = env.get("gpus") or {}
    lines.append(f"  python {env.get('python')} ({env.get('executable')})")
    lines.append("  packages: " + ", ".join(f"{k} {v}" for k, v in sorted((env.get("packages") or {}).items())))
    lines.append(f"  gpus: {gpus.get('count')} x {gpus.get('model')}, CUDA {env.get('cuda')}, NCCL {env.get('nccl')}"
                 if gpus else "  gpus: none (CPU)")
    lines.append(f"  hosts: {', '.join(env.get('hosts') or [])}; ran code from {(env.get('code') or {}).get('dir')}")
    return "\n".join(lines)


def _state(row: dict[str, Any]) -> str:
    gone = row["run_dir_gone"] and row["state"] == "COMPLETED"
    return f"{row['state']} (run dir gone)" if gone else str(row["state"])


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def last_metric(run_dir: str) -> str | None:
    """The run's latest logged number: outputs/metrics.json, else its progress file."""
    for name in ("outputs/metrics.json", "outputs/progress.json"):
        data = read_object(Path(run_dir, name))
        values = numbers(data)
        primary = data.get("primary_metric") if data else None
        ranked = sorted(values.items(), key=lambda kv: kv[0] != primary)
        if ranked:
            key, value = ranked[0]
            return f"{key}={value:.4g}"
    return None


def error_tail(run_dir: str, lines: int = 12) -> str:
    logs = sorted(Path(run_dir, "logs").glob("*.err"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return ""
    text = logs[-1].read_text(errors="replace").splitlines()
    # torchrun appends its own report (a traceback of the launcher): show what the
    # workers said before it
    for i, line in enumerate(text):
        if "elastic/multiprocessing/api.py" in line and "failed (exitcode" in line:
            text = text[:i] + [f"(torchrun: {line.split('] ', 1)[-1]})"]
            break
    return "\n".join(f"  {line}" for line in text[-lines:])
