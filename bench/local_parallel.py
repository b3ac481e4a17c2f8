"""Benchmark: the local executor packing runs onto one machine (`labspec launch --jobs N`).

The sft-tiny example swept over four learning rates, each run one process with one CPU
(`resources.procs_per_node=1, cpus_per_task=1`): four SFT runs (LoRA, one epoch on the
tiny chat data) and their four evaluations, real TRL training on the tiny offline model.
Launched with the local executor into a fresh output root each time, three ways, the
order alternated over REPEAT rounds so that drift of the machine falls on all of them:

- `--jobs 1`, one CPU per run: one run at a time, as labspec ran locally before;
- `--jobs 2`, one CPU per run: two at once on this 2-core machine;
- `--jobs 1`, two CPUs per run: one at a time, each run's torch using both cores (the
  other way to use the machine).

Goal (issue 17): `--jobs 2` takes about half the wall time of `--jobs 1` at one CPU per run.
Run: .venv/bin/python -m bench.local_parallel
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPEAT = 2
SWEEP = "sweep.grid.training.lr=[1e-3,2e-3,3e-3,4e-3]"
WAYS = {"--jobs 1, 1 CPU/run": ("1", "1"), "--jobs 2, 1 CPU/run": ("2", "1"), "--jobs 1, 2 CPUs/run": ("1", "2")}


def spec_for(assets: Path, where: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.launch_helpers import tiny_example

    return tiny_example("sft-tiny", where, assets)


def launch(spec: Path, root: Path, jobs: str, cpus: str) -> float:
    cmd = [sys.executable, "-m", "launch", "launch", str(spec), "--executor", "local", "--yes", "--allow-dirty",
           "--jobs", jobs, "-o", SWEEP, "-o", f"output_root={root}", "-o", "resources.procs_per_node=1",
           "-o", f"resources.cpus_per_task={cpus}", "-o", f"stages.evaluate.resources.cpus_per_task={cpus}"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"launch failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    return took


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        subprocess.run([sys.executable, "-m", "runtime.fixtures", str(base / "assets")], cwd=REPO, check=True,
                       capture_output=True)
        spec = spec_for(base / "assets", base)
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        for rnd in range(REPEAT):
            order = list(WAYS) if rnd % 2 == 0 else list(reversed(WAYS))
            for way in order:
                jobs, cpus = WAYS[way]
                took = launch(spec, base / f"runs-{rnd}-{jobs}-{cpus}", jobs, cpus)
                times[way].append(took)
                print(f"round {rnd + 1}: {way}: {took:.1f} s", flush=True)
    baseline = statistics.median(times["--jobs 1, 1 CPU/run"])
    print(f"\nfour 1-process SFT runs and their evaluations, wall time (median of {REPEAT}):")
    for way, found in times.items():
        med = statistics.median(found)
        print(f"  {way:<22} {med:7.1f} s   x{baseline / med:.2f} vs --jobs 1   "
              f"(runs: {', '.join(f'{t:.1f}' for t in found)})")


if __name__ == "__main__":
    main()
