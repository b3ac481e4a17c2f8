"""Benchmark: compile a 1,000-run grid (10 x 10 x 10) side by side with Hydra's multirun.

labspec: `labspec compile grid.yaml --format json` in a fresh interpreter (start-up and
imports included), producing for every run its full launch script, DeepSpeed config and
run.json. Hydra: a fresh interpreter that expands the same sweep with Hydra's basic
sweeper and composes one config per job (`compose` with that job's overrides), which
is what `--multirun` does before launching; it renders no scripts at all.

Each side runs REPEAT times in the same session; the best and median wall times are
printed. Run: `make bench` (or .venv/bin/python bench/compile_grid.py).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEAT = 5
LRS = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3]
WDS = [0.0, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
WARMUPS = [0.0, 0.01, 0.02, 0.03, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2]

SPEC = f"""\
name: grid
kind: sft
model: {{name_or_path: Qwen/Qwen2.5-0.5B, num_parameters: 0.5B}}
data: {{train: /data/train.jsonl}}
training: {{global_batch_size: 64, micro_batch_size: 8}}
resources: {{gpus_per_node: 8, time: "04:00:00", gpu_mem_gb: 80}}
sweep:
  grid:
    training.lr: {json.dumps(LRS)}
    training.weight_decay: {json.dumps(WDS)}
    training.warmup_ratio: {json.dumps(WARMUPS)}
"""

HYDRA_CONFIG = """\
name: grid
kind: sft
model: {name_or_path: Qwen/Qwen2.5-0.5B, num_parameters: 500000000}
data: {train: /data/train.jsonl}
training: {lr: 1.0e-5, weight_decay: 0.0, warmup_ratio: 0.0, global_batch_size: 64, micro_batch_size: 8}
resources: {gpus_per_node: 8, time: "04:00:00", gpu_mem_gb: 80}
"""

HYDRA_SCRIPT = """\
import sys
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

config_dir, sweep = sys.argv[1], sys.argv[2:]
parser = OverridesParser.create()
jobs = BasicSweeper.split_arguments(parser.parse_overrides(sweep), max_batch_size=None)[0]
with initialize_config_dir(config_dir=config_dir, version_base=None):
    configs = [OmegaConf.to_container(compose(config_name="config", overrides=job), resolve=True)
               for job in jobs]
print(len(configs))
"""


def timed(cmd: list[str], **kw: object) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - start, done.stdout


def main() -> int:
    venv_bin = Path(sys.executable).parent
    labspec = str(venv_bin / "labspec")
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp, "grid.yaml")
        spec.write_text(SPEC)
        conf = Path(tmp, "conf")
        conf.mkdir()
        (conf / "config.yaml").write_text(HYDRA_CONFIG)
        hydra_py = Path(tmp, "hydra_compose.py")
        hydra_py.write_text(HYDRA_SCRIPT)
        sweep = [
            "training.lr=" + ",".join(map(str, LRS)),
            "training.weight_decay=" + ",".join(map(str, WDS)),
            "training.warmup_ratio=" + ",".join(map(str, WARMUPS)),
        ]
        env = {**os.environ, "HYDRA_FULL_ERROR": "1"}

        ours, theirs = [], []
        for _ in range(REPEAT):
            t, out = timed([labspec, "compile", str(spec), "--format", "json"], cwd=tmp)
            runs = json.loads(out)["runs"]
            assert len(runs) == 1000 and all(r["script"] and r["deepspeed"] for r in runs)
            ours.append(t)
            t, out = timed([sys.executable, str(hydra_py), str(conf), *sweep], cwd=tmp, env=env)
            assert out.strip() == "1000"
            theirs.append(t)
        t_help, _ = timed([labspec, "--help"])
        probe = ("import sys, contextlib, io; from launch.cli import main\n"
                 "with contextlib.redirect_stdout(io.StringIO()): main(['compile', sys.argv[1]])\n"
                 "print(sorted(m for m in ('torch','transformers','trl','deepspeed','datasets','peft')"
                 " if m in sys.modules))")
        _, heavy = timed([sys.executable, "-c", probe, str(spec)], cwd=tmp)

    best, med = min(ours), statistics.median(ours)
    hbest, hmed = min(theirs), statistics.median(theirs)
    print("1,000-run grid (10 x 10 x 10), wall time of a fresh process, interpreter start included")
    print(f"{'':34}{'best':>10}{'median':>10}")
    print(f"{'labspec compile (scripts+DS+json)':34}{best:>9.3f}s{med:>9.3f}s")
    print(f"{'hydra basic sweeper + compose':34}{hbest:>9.3f}s{hmed:>9.3f}s")
    print(f"speed-up (median): {hmed / med:.1f}x   goal: < 1 s and >= 50x")
    print(f"labspec --help: {t_help:.3f}s; heavy modules imported by compile: {heavy.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
