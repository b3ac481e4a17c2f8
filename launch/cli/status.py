"""`labspec status [EXPERIMENT | RUN]`: every run's state, refreshed from SLURM, with its
job and its latest metric (a training run's latest loss while it trains); `--watch`
redraws it until the runs are finished; with `--details`, each run's code snapshot and
the environment it ran in (environment.json)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from launch import ledger as L
from launch.cli_support import add_root, int_between, last_states, open_target
from launch.jsonfile import numbers, read_object
from launch.ledger import Ledger, RunRecord, short_ids
from specs.errors import LabspecError

WATCH_S = 5
CLEAR = "\x1b[H\x1b[2J"  # cursor home, erase the screen


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", metavar="EXPERIMENT",
                        help="experiment name, spec file or run (default: every experiment in the ledger)")
    add_root(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table", help="(default: table)")
    parser.add_argument("--details", action="store_true",
                        help="also each run's code snapshot and environment (Python, packages, GPUs, hosts)")
    parser.add_argument("--watch", nargs="?", const=WATCH_S, type=int_between(1, 86_400, "a number of seconds"),
                        metavar="SECONDS", help=f"redraw every SECONDS (default {WATCH_S}) until every run listed "
                        "has finished, or Ctrl-C")


def run(args: argparse.Namespace) -> int:
    if args.watch is not None and args.format == "json":
        raise LabspecError("--watch redraws the table; --format json prints one snapshot (drop one of them)")
    ledger, experiment = open_target(args.target, args.root)
    with ledger:
        if args.watch is not None:
            return watch(ledger, experiment, args)
        rows = collect(ledger, experiment, args)
        if args.format == "json":
            print(json.dumps({"ledger": str(ledger.path), "runs": rows}, indent=2))
        else:
            show(rows, ledger, args.details)
    return 0


def collect(ledger: Ledger, experiment: str | None, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The rows to show, fresh from SLURM and the run dirs: an experiment's runs, every run,
    or the one run `args.target` names."""
    from launch.refresh import refresh

    runs = refresh(ledger, experiment)
    if args.target and experiment is None:  # a run
        one = ledger.find(args.target).id
        runs = [r for r in runs if r.id == one]
    rows: list[dict[str, Any]] = []
    for r in runs:
        rows.append({
            "id": r.id, "name": r.name, "experiment": r.experiment, "stage": r.stage, "state": r.state,
            "job_id": r.job_id, "job": job_label(r), "executor": r.executor,
            "elapsed_s": round(r.elapsed, 1) if r.elapsed else None,
            "last_metric": last_metric(r.run_dir, running=r.state == L.RUNNING), "detail": r.detail,
            "run_dir": r.run_dir, "run_dir_gone": not Path(r.run_dir, "run.json").is_file(),
            "events": [{"state": s, "at": at, "detail": d} for s, at, d in ledger.events(r.id)],
        })
        if args.details:
            rows[-1].update(details(r.run_dir, r.code))
    return rows


def show(rows: list[dict[str, Any]], ledger: Ledger, with_details: bool) -> None:
    """The table, then what each failed run said, then how many runs are in which state."""
    print("\n".join(table(rows, short_ids(ledger.runs()), ledger.root)))
    for row in rows if with_details else ():
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
    sys.stdout.flush()
    print("\n" + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()), file=sys.stderr)


def table(rows: list[dict[str, Any]], short: dict[str, str], root: Path) -> list[str]:
    """The runs as aligned columns. Runs of several experiments get an EXPERIMENT column and
    short ids (`labspec logs`, `status` and `diff` take them); one experiment's runs are
    headed by its name and show whole ids."""
    experiments = list(dict.fromkeys(row["experiment"] for row in rows))
    several = len(experiments) > 1
    header = ("RUN", "ID", "STAGE", "JOB", "STATE", "ELAPSED", "LAST METRIC")
    lines = [(("EXPERIMENT",) if several else ()) + header]
    for row in rows:
        lines.append(((row["experiment"],) if several else ()) + (
            row["name"], short.get(row["id"], row["id"]) if several else row["id"], row["stage"], row["job"],
            _state(row), _duration(row["elapsed_s"]), row["last_metric"] or "-"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(lines[0]))]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    title = [f"experiment {experiments[0]} (ledger under {root})"] if len(experiments) == 1 else []
    return title + text


def watch(ledger: Ledger, experiment: str | None, args: argparse.Namespace) -> int:
    """Redraw the status every `args.watch` seconds (clearing the screen on a terminal) until
    every listed run has finished, or nothing has been running or queued for two draws in a
    row (runs left NEW were not launched: nothing would move them). Ctrl-C ends it too."""
    every, tty, idle_before = args.watch, sys.stdout.isatty(), False
    try:
        while True:
            rows = collect(ledger, experiment, args)
            sys.stdout.write(CLEAR if tty else "")
            show(rows, ledger, args.details)
            idle = not any(row["state"] in L.ACTIVE for row in rows)
            waiting = [row for row in rows if row["state"] not in L.TERMINAL and row["state"] != L.INTERRUPTED]
            if not waiting or (idle and idle_before):
                print("every run has finished" if not waiting else
                      f"nothing is running or queued; {len(waiting)} run(s) are waiting for a launch",
                      file=sys.stderr)
                return 0
            idle_before = idle
            print(f"{time.strftime('%H:%M:%S')}, again every {every}s until they finish (Ctrl-C stops)",
                  file=sys.stderr, flush=True)
            time.sleep(every)
            print("" if tty else "\n", end="")
    except KeyboardInterrupt:
        return 0


def job_label(rec: RunRecord) -> str:
    """The run's job as its executor names it: a SLURM job, an array task (123_4), the whole
    array of a sharded run (123_[0-3]), or the local process group (local:PID)."""
    if not rec.job_id:
        return "-"
    if rec.executor == "slurm" and rec.shards > 1 and "_" not in rec.job_id:
        return f"{rec.job_id}_[0-{rec.shards - 1}]"
    return rec.job_id


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


def last_metric(run_dir: str, running: bool = False) -> str | None:
    """The run's latest figure: its final metrics (outputs/metrics.json, the primary metric
    first), else the latest training scalar of its TensorBoard events ("loss=0.53 @ step
    40"); while it runs, what it logs now comes first."""
    from launch.tfevents import latest_scalar

    def final() -> str | None:
        data = read_object(Path(run_dir, "outputs", "metrics.json"))
        primary = data.get("primary_metric") if data else None
        ranked = sorted(numbers(data).items(), key=lambda kv: kv[0] != primary)
        return f"{ranked[0][0]}={ranked[0][1]:.4g}" if ranked else None

    def training() -> str | None:
        s = latest_scalar(Path(run_dir, "tb"))
        return f"{s.tag.removeprefix('train/')}={s.value:.4g} @ step {s.step}" if s else None

    order = (training, final) if running else (final, training)
    return next((shown for get in order if (shown := get()) is not None), None)


def error_tail(run_dir: str, lines: int = 12) -> str:
    logs = sorted(Path(run_dir, "logs").glob("*.err"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return ""
    # bytes, not read_text: its universal newlines would make each state of a progress bar a line
    text = last_states(logs[-1].read_bytes().decode(errors="replace")).splitlines()
    # torchrun appends its own report (a traceback of the launcher): show what the
    # workers said before it
    for i, line in enumerate(text):
        if "elastic/multiprocessing/api.py" in line and "failed (exitcode" in line:
            text = text[:i] + [f"(torchrun: {line.split('] ', 1)[-1]})"]
            break
    return "\n".join(f"  {line}" for line in text[-lines:])
