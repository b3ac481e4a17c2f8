"""`labspec hooks install|uninstall`: an opt-in git post-commit hook that launches the
specs each commit adds or changes ("commit a spec to launch it")."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from specs.errors import LabspecError

MARKER = "# installed by labspec hooks install"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "uninstall"))
    parser.add_argument("--repo", default=".", help="the repository (default: here)")
    parser.add_argument("--executor", choices=("auto", "slurm", "local"), default="auto")


def hook_path(repo: str) -> Path:
    done = subprocess.run(["git", "-C", repo, "rev-parse", "--git-path", "hooks/post-commit"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabspecError(f"{repo} is not a git repository")
    path = Path(done.stdout.strip())
    return path if path.is_absolute() else Path(repo, path)


def run(args: argparse.Namespace) -> int:
    path = hook_path(args.repo)
    ours = path.exists() and MARKER in path.read_text(errors="replace")
    if args.action == "uninstall":
        if ours:
            path.unlink()
            print(f"removed {path}")
        return 0
    if path.exists() and not ours:
        raise LabspecError(f"{path} exists and is not labspec's; merge it by hand (nothing was changed)")
    labspec = shlex.quote(str(Path(sys.executable).with_name("labspec")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f"{MARKER}: launch the specs this commit added or changed.\n"
        "# A failed launch never undoes the commit; see its message above.\n"
        f"{labspec} launch --changed HEAD --yes --executor {shlex.quote(args.executor)} || "
        "echo 'labspec: launch failed (the commit stands)' >&2\n"
        "exit 0\n")
    path.chmod(0o755)
    print(f"installed {path}")
    return 0
