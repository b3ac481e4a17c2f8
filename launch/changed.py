"""`launch --changed`: the specs a commit (or a range of commits) added or modified.

Only YAML files that are labspec specs (a mapping whose `kind:` labspec knows) count.
Python specs are never picked up this way: they are code, run only when named.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from launch.git import git
from specs.errors import LabspecError
from specs.registry import KINDS


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
