"""Benchmark: submit a 1,000-run grid to the test SLURM cluster, held so nothing runs.

labspec: `labspec launch grid.yaml --hold --yes` in a fresh process (compile, run dirs,
ledger, submitit; the grid goes as job arrays). Baseline: the same 1,000 launch scripts
submitted with one `sbatch --hold` each, as a shell loop would. Everything is cancelled
afterwards. Needs the cluster: `tests/cluster/up.sh` (root), then
`SLURM_CONF=/tmp/labspec-cluster/etc/slurm.conf .venv/bin/python bench/submit_grid.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """\
name: {name}
kind: smoke
output_root: {root}
resources: {{gpus_per_node: 0, procs_per_node: 1, cpus_per_task: 1, mem: 100M, time: "00:05:00"}}
launcher: python
smoke: {{steps: 1}}
sweep:
  grid:
    smoke.value: {values}
    smoke.steps: {steps}
    smoke.checkpoint_every: {every}
"""


def main() -> int:
    os.environ.setdefault("SLURM_CONF", "/tmp/labspec-cluster/etc/slurm.conf")
    labspec = str(Path(sys.executable).with_name("labspec"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "runs")
        name = f"bench{os.getpid()}"
        spec = Path(tmp, "grid.yaml")
        spec.write_text(SPEC.format(name=name, root=root, values=list(range(1, 11)), steps=list(range(1, 11)),
                                    every=list(range(1, 11))))
        start = time.perf_counter()
        done = subprocess.run([labspec, "launch", str(spec), "--hold", "--yes", "--array-parallelism", "64"],
                              capture_output=True, text=True, check=False, cwd=tmp)
        t_labspec = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        jobs = [line for line in done.stderr.splitlines() if line.startswith("submitted")]
        out = subprocess.run([labspec, "status", name, "--root", str(root), "--format", "json"],
                             capture_output=True, text=True, check=True).stdout
        runs = json.loads(out)["runs"]
        assert len(runs) == 1000 and all(r["state"] == "PENDING" for r in runs), "not all 1,000 runs pending"
        subprocess.run([labspec, "cancel", name, "--root", str(root)], capture_output=True, check=True)

        # the same launch in-process, phase by phase (a fresh output root and name)
        phases = _phases(spec, Path(tmp, "runs2"), name + "b")

        scripts = [Path(r["run_dir"], "launch.sh") for r in runs]
        start = time.perf_counter()
        ids = []
        for script in scripts:
            res = subprocess.run(["sbatch", "--hold", "--parsable", "--job-name", f"{name}-baseline",
                                  "--time=5", "--mem=100M", "--output=/dev/null", str(script)],
                                 capture_output=True, text=True, check=True)
            ids.append(res.stdout.strip().split(";")[0])
        t_sbatch = time.perf_counter() - start
        subprocess.run(["scancel", "--name", f"{name}-baseline"], check=False)

    print("1,000 held runs submitted to the two-node test cluster (SLURM 22.05), wall time")
    print(f"  labspec launch (compile + run dirs + ledger + arrays): {t_labspec:7.2f} s  ({len(jobs)} sbatch call(s))")
    print(f"  one sbatch per run (baseline):                         {t_sbatch:7.2f} s  ({len(ids)} sbatch calls)")
    print(f"  speed-up: {t_sbatch / t_labspec:.1f}x   goal: < 5 s and >= 20x")
    print("  labspec in-process, by phase: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    print(f"  submission alone (arrays through submitit) vs the sbatch loop: {t_sbatch / phases['submit']:.1f}x")
    return 0


def _phases(spec: Path, root: Path, name: str) -> dict[str, float]:
    from compiler import compile
    from launch.executors.slurm import SlurmExecutor
    from launch.launcher import LaunchOptions, prepare, record
    from launch.ledger import Ledger
    from specs.loader import load_spec

    out: dict[str, float] = {}
    t = time.perf_counter()
    loaded = load_spec(spec, [f"output_root={root}", f"name={name}"])
    plan = compile(loaded)
    out["compile"] = time.perf_counter() - t
    executor = SlurmExecutor(hold=True)
    opts = LaunchOptions(executor)
    with Ledger(plan.output_root) as ledger, ledger.locked():
        sel = prepare(plan, ledger, opts, lambda m: None)
        t = time.perf_counter()
        record(loaded, plan, ledger, sel, opts)
        out["run dirs + ledger"] = time.perf_counter() - t
        t = time.perf_counter()
        executor.submit(plan, ledger, sel, lambda m: None)
        out["submit"] = time.perf_counter() - t
    subprocess.run(["scancel", "--name", f"{name}.smoke_0.*"], capture_output=True, check=False)
    subprocess.run(["scancel", "--user", "root", "--state", "PENDING"], capture_output=True, check=False)
    return out


if __name__ == "__main__":
    sys.exit(main())
