"""Is a prediction valid LaTeX math? Asked of KaTeX itself, run by Node.js.

A pure-Python parser (pylatexenc) accepts unknown macros and an unmatched `\\left`, so
it cannot tell a formula that renders from one that does not. KaTeX can: one long-lived
`node check.js` process checks a whole batch (node's start-up costs about half a second,
a parse about 0.05 ms). KaTeX is installed next to `check.js` by scripts/setup.sh
(`npm ci` in runtime/formula_dpo/katex); `LABSPEC_NODE` names another node binary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

from runtime.core.errors import TaskInputError

HERE = Path(__file__).parent / "katex"
CHUNK = 128  # formulas written before their answers are read back (keeps both pipes far from full)


def _node() -> str:
    node = os.environ.get("LABSPEC_NODE") or shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise TaskInputError("the validity metric needs Node.js (KaTeX runs on it): install it on the nodes "
                             "(apt install nodejs npm), set LABSPEC_NODE to a node binary, or drop 'validity' "
                             "from evaluation.metrics")
    if not (HERE / "node_modules" / "katex").is_dir():
        raise TaskInputError(f"the validity metric needs the katex npm package in {HERE / 'node_modules'}: run "
                             f"scripts/setup.sh (or: npm ci --prefix {HERE}), or drop 'validity' from "
                             "evaluation.metrics")
    return node


class KatexChecker:
    """`check(formulas)` -> one error message per formula, None where KaTeX parses it."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([_node(), str(HERE / "check.js")], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        return self._proc

    def check(self, formulas: list[str]) -> list[str | None]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        errors: list[str | None] = []
        for start in range(0, len(formulas), CHUNK):
            chunk = formulas[start:start + CHUNK]
            proc.stdin.write("".join(json.dumps(f) + "\n" for f in chunk))
            proc.stdin.flush()
            for _ in chunk:
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the KaTeX checker (node {HERE / 'check.js'}) exited with "
                                       f"{proc.wait()}")
                answer = json.loads(line)
                errors.append(None if answer["ok"] else str(answer["error"]))
        return errors

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout:
                self._proc.stdout.close()
            self._proc = None

    def __enter__(self) -> KatexChecker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def validity(formulas: list[str]) -> list[str | None]:
    """One batch through a fresh checker."""
    with KatexChecker() as checker:
        return checker.check(formulas)
