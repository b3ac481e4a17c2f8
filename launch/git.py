"""The one way labspec asks git something (provenance, dirty checks, --changed)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(cwd: str | Path, *args: str) -> str | None:
    """git's stdout (stripped), or None when git fails or is missing."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
