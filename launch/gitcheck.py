"""Reproducibility: launch only what is committed (unless --allow-dirty, recorded)."""

from __future__ import annotations

import sys
from pathlib import Path

from launch.git import git
from specs.errors import LabspecError


class DirtyRepository(LabspecError):
    """The spec's repository has uncommitted changes."""


def require_clean(spec_path: str, allow_dirty: bool) -> None:
    spec = Path(spec_path).resolve()
    top = git(spec.parent, "rev-parse", "--show-toplevel")
    if top is None:
        print(f"warning: {spec} is not in a git repository; its runs record no commit", file=sys.stderr)
        return
    status = git(spec.parent, "status", "--porcelain", "--untracked-files=no") or ""
    untracked = git(spec.parent, "ls-files", "--others", "--exclude-standard", "--", str(spec)) or ""
    dirty = [line[3:] for line in status.splitlines()] + untracked.splitlines()
    if dirty and not allow_dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise DirtyRepository(
            f"{top} has uncommitted changes ({shown}); commit them so the runs record what ran, "
            "or pass --allow-dirty (recorded in each run's provenance)")

