"""What labspec asks git, in one place: provenance (the commit and whether the tree is
dirty), the refusal to launch uncommitted specs, and `launch --changed` (the specs a
commit or a range of commits added or modified).

`--changed` counts only YAML files that are labspec specs (a mapping whose `kind:`
labspec knows). Python specs are never picked up this way: they are code, run only when
named on the command line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from specs.errors import LabspecError


def git(cwd: str | Path, *args: str) -> str | None:
    """git's stdout (stripped), or None when git fails or is missing."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(directory: Path) -> dict[str, Any]:
    """The commit and dirty flag of the repository holding `directory` (None outside git)."""
    commit = git(directory, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = git(directory, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status)}


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


def changed_specs(rev_range: str, cwd: str = ".") -> list[str]:
    if not rev_range or rev_range.startswith("-") or any(c in rev_range for c in "\0\n"):
        # git would read "--output=FILE" as an option (and write FILE)
        raise LabspecError(f"--changed takes a revision or range such as HEAD or HEAD~3..HEAD, not {rev_range!r}")
    top = _git(cwd, "rev-parse", "--show-toplevel").strip()
    if ".." in rev_range:
        names = _git(cwd, "diff", "--name-only", "--diff-filter=AMR", "--end-of-options", rev_range)
    else:  # one commit (root commits included)
        names = _git(cwd, "show", "--name-only", "--diff-filter=AMR", "--format=", "--end-of-options", rev_range)
    specs = []
    for name in names.splitlines():
        path = Path(top, name)
        if path.suffix == ".py" and path.is_file():
            print(f"not launching {name}: Python specs run only when named on the command line", file=sys.stderr)
        if path.suffix in (".yaml", ".yml") and path.is_file() and _is_spec(path):
            specs.append(str(path))
    return specs


def _is_spec(path: Path) -> bool:
    from specs.registry import KINDS  # the spec models load only here: `labspec code` and `diff` stay light

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"] in KINDS



def _git(cwd: str, *args: str) -> str:
    out = git(cwd, *args)
    if out is None:
        raise LabspecError(f"git {' '.join(args)} failed in {cwd}: is it a git repository with that revision?")
    return out
