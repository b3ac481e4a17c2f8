"""The contamination demo (demos/size_ladder_contamination.py): its generated GSM8K-format
data and twins are sound (disjoint splits, every item traced, a twin's gold right unless a
question number equals a step's result), and a tiny run prints the comparison table. The
demo's own figures need minutes of training; this only keeps it from rotting."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from fractions import Fraction
from types import ModuleType

import pytest

from runtime.size_ladder.twins import ANNOTATION, twins
from tests.conftest import REPO


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "demos"))  # the demo imports demos/common.py as `common`
    import size_ladder_contamination

    return size_ladder_contamination


def collides(row: dict[str, str]) -> bool:
    """A question number equal to a step's result: the tracer takes it for that step."""
    inputs = {Fraction(x) for x in re.findall(r"\d+", row["question"])}
    return bool(inputs & {Fraction(result) for _, result in ANNOTATION.findall(row["answer"])})


def test_generated_items_and_their_twins(demo):
    rng = random.Random(0)
    test = demo.problems(96, rng, set(), wide=False)
    train = demo.problems(300, rng, {r["question"] for r in test}, wide=True)
    assert not {r["question"] for r in test} & {r["question"] for r in train}
    assert {r["template"] for r in test} == {t.name for t in demo.TEMPLATES}
    originals, twin_rows, left_out = twins(test, "question", "answer", seed=0)
    assert len(originals) + sum(left_out.values()) == len(test) and len(originals) > len(test) * 3 // 4
    assert all(demo.gold_checks(o) for o in originals)
    for original, twin in zip(originals, twin_rows, strict=True):
        assert twin["question"] != original["question"]
        if not collides(original):
            assert demo.gold_checks(twin), twin


@pytest.mark.slow
def test_a_tiny_run_prints_the_table(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO / "demos/size_ladder_contamination.py"), "--out", str(tmp_path), "--train", "64",
         "--test", "16", "--repeats", "2", "--epochs", "1", "--hidden", "32", "--layers", "1", "--threads", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith(("CLEAN ", "CONTAMINATED "))]
    assert len(rows) == 2 and all(len(r.split("|")) == 8 for r in rows)
    assert "prediction (CONTAMINATED" in run.stdout and "twins made" in run.stdout
