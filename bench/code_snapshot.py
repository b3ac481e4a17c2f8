"""Benchmark: what freezing the code (launch.snapshot) costs a launch.

- The snapshot of this repository: how many files, how large, how long reading and
  hashing them takes (`take`, every launch) and writing them (`store`, the first launch
  of that code under an output root; later launches of the same code share it).
- A 1,000-run grid (bench/compile_grid.py's 10 x 10 x 10 sft sweep), launched up to the
  executor: compile, select, write the 1,000 run dirs and the ledger rows; with and
  without the snapshot, interleaved, REPEAT times each, each into a fresh output root
  (so every launch with it writes its snapshot). Nothing is submitted: what the snapshot
  adds to a launch is all before the executor.

Goal: the snapshot does not double a 1,000-run launch.
Run: .venv/bin/python -m bench.code_snapshot
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.compile_grid import SPEC

REPEAT = 5


def launch_up_to_the_executor(spec: Path, root: Path, with_snapshot: bool) -> float:
    from launch import snapshot
    from launch.cli_support import load_and_compile
    from launch.executors.local import LocalExecutor
    from launch.launcher import LaunchOptions, prepare, record
    from launch.ledger import Ledger

    start = time.perf_counter()
    code = snapshot.take() if with_snapshot else None
    loaded, plan = load_and_compile(str(spec), [], output_root=str(root), code_id=code.id if code else None)
    opts = LaunchOptions(LocalExecutor(), allow_dirty=True, code=code)
    with Ledger(plan.output_root) as ledger, ledger.locked():
        sel = prepare(plan, ledger, opts, lambda _: None)
        assert len(sel.submit) == 1000, len(sel.submit)
        record(loaded, plan, ledger, sel, opts)
    return time.perf_counter() - start


def main() -> int:
    from launch import snapshot

    takes, stores = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEAT):
            t0 = time.perf_counter()
            snap = snapshot.take()
            t1 = time.perf_counter()
            where = snapshot.store(snap, str(Path(tmp, f"store-{i}")))
            takes.append(t1 - t0)
            stores.append(time.perf_counter() - t1)
        size = snapshot.size(where)
        print(f"snapshot of {snap.source}: {len(snap.files)} files, {size / 1e6:.2f} MB on disk "
              f"(commit {str(snap.commit)[:12]}{', with uncommitted changes' if snap.dirty else ''})")
        print(f"  take (read and hash, every launch): median {statistics.median(takes) * 1e3:.0f} ms; "
              f"store (write, the first launch of this code): median {statistics.median(stores) * 1e3:.0f} ms")

        spec = Path(tmp, "grid.yaml")
        spec.write_text(SPEC)
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(REPEAT):
            for with_snapshot in (False, True) if i % 2 == 0 else (True, False):
                times[with_snapshot].append(
                    launch_up_to_the_executor(spec, Path(tmp, f"runs-{i}-{with_snapshot}"), with_snapshot))
        without, with_ = statistics.median(times[False]), statistics.median(times[True])
        print(f"1,000-run launch up to the executor (compile, select, 1,000 run dirs, ledger), median of {REPEAT}:")
        print(f"  without the snapshot {without:.2f} s   with it {with_:.2f} s   ({100 * (with_ / without - 1):+.1f}%)"
              f"   runs: {[round(t, 2) for t in times[False]]} vs {[round(t, 2) for t in times[True]]}")
    print("goal: the snapshot does not double a 1,000-run launch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
