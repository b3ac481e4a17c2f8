"""What every demo does: launch a spec on the local executor with overrides, then print
`labspec report` for it."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABSPEC = str(REPO / ".venv/bin/labspec")


def launch(spec: Path, overrides: dict[str, object]) -> None:
    argv = [LABSPEC, "launch", str(spec), "--executor", "local", "--yes", "--allow-dirty"]
    for key, value in overrides.items():
        argv += ["-o", f"{key}={value}"]
    subprocess.run(argv, check=True, cwd=REPO)


def report(experiment: str, root: Path) -> None:
    subprocess.run([LABSPEC, "report", experiment, "--root", str(root)], check=True, cwd=REPO)
