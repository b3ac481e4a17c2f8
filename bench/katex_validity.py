"""Benchmark: KaTeX validity of N formulas through one long-lived node process (what the
formula evaluator does) against starting node once per formula (the obvious way).

    .venv/bin/python bench/katex_validity.py [N]
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.formula_dpo.katex import HERE, KatexChecker, _node
from runtime.formula_dpo.synthetic import random_formula


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rng = random.Random(0)
    formulas = [random_formula(rng, 2) for _ in range(n)]
    formulas[::7] = [f + " \\left(" for f in formulas[::7]]  # some invalid ones
    started = time.perf_counter()
    with KatexChecker() as checker:
        errors = checker.check(formulas)
    batched = time.perf_counter() - started
    per_process_n = min(n, 50)
    started = time.perf_counter()
    for f in formulas[:per_process_n]:
        subprocess.run([_node(), str(HERE / "check.js")], input=json.dumps(f) + "\n", capture_output=True,
                       text=True, check=True)
    per_process = (time.perf_counter() - started) / per_process_n * n
    invalid = sum(e is not None for e in errors)
    print(f"{n} formulas ({invalid} invalid), KaTeX {json.loads((HERE / 'package.json').read_text())['dependencies']}")
    print(f"  one node process, whole batch : {batched:8.2f} s  ({batched / n * 1e3:.3f} ms/formula, with start-up)")
    print(f"  one node process per formula  : {per_process:8.2f} s  (measured on {per_process_n}, scaled)")
    print(f"  speed-up                      : {per_process / batched:8.1f}x")


if __name__ == "__main__":
    main()
