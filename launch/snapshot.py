"""Freeze the code a launch's jobs run: a content-addressed copy of the project's packages.

A launch script runs `python -m runtime` with the snapshot's directory first on
PYTHONPATH, so a job that waits six hours in the queue, every later stage, and every
requeue after a preemption run the code that was launched, not what the working tree
holds when they start (the interpreter stays the environment's).

What goes in: the files of the project's packages (`PACKAGES`) that git tracks, plus,
when the tree has uncommitted changes, those changes and the packages' untracked files
that git does not ignore; exactly what a fresh process would import at launch. The
snapshot records the commit, whether it was dirty and, then, the diff (`changes.patch`).
Outside git (an installed wheel), the packages' files as installed.

Why not the anchors' own packagers: NeMo-Run's GitArchivePackager archives the commit
and drops uncommitted changes, which `--allow-dirty` launches must keep; submitit's
RsyncSnapshot copies the whole repository into a new directory per launch and changes the
submitting process's working directory. Here a snapshot's id is the hash of its files, so
launches of the same code share one copy under `<output_root>/.labspec/code/<id>/`, and
the ledger knows which runs use which snapshot (`labspec code`, and its `--gc`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from launch.git import git
from specs.errors import LabspecError
from specs.layout import code_root, snapshot_dir

PACKAGES = ("compiler", "launch", "runtime", "specs")
INSTALLED = ("node_modules",)  # installed dependencies inside the packages (KaTeX's): linked, not copied
MANIFEST = "manifest.json"
PATCH = "changes.patch"
SKIP_PARTS = ("__pycache__",)


class SnapshotError(LabspecError):
    """The code snapshot cannot be taken or written."""


@dataclass(frozen=True)
class Snapshot:
    id: str
    commit: str | None
    dirty: bool
    files: dict[str, str]  # relative path -> sha256
    patch: str = ""
    source: str = ""  # the project directory it was taken from
    contents: dict[str, bytes] = field(default_factory=dict, repr=False)
    linked: tuple[str, ...] = ()  # installed dependency folders, linked to the source's like the interpreter

    def manifest(self) -> dict[str, object]:
        return {"id": self.id, "commit": self.commit, "dirty": self.dirty, "source": self.source,
                "created": time.time(), "files": self.files, "linked": list(self.linked)}

    def provenance(self, output_root: str) -> dict[str, object]:
        """What each run's provenance.json records about its code."""
        return {"id": self.id, "dir": snapshot_dir(output_root, self.id), "commit": self.commit, "dirty": self.dirty}


def project_root() -> Path:
    """The directory holding the project's packages (this file is launch/snapshot.py)."""
    return Path(__file__).resolve().parents[1]


def take(root: Path | None = None) -> Snapshot:
    """Read the packages' files now (nothing is written): their contents and their id."""
    root = root or project_root()
    commit = git(root, "rev-parse", "HEAD")
    names = _git_files(root) if commit else None
    if not names or "launch/snapshot.py" not in names:  # not the project's repository: as installed
        commit = None
        names = sorted(str(p.relative_to(root)) for pkg in PACKAGES for p in (root / pkg).rglob("*")
                       if p.is_file() and not any(part in SKIP_PARTS for part in p.parts) and p.suffix != ".pyc")
    contents: dict[str, bytes] = {}
    for name in names:
        try:
            contents[name] = (root / name).read_bytes()
        except FileNotFoundError:  # deleted in the working tree: not imported any more
            continue
        except OSError as exc:
            raise SnapshotError(f"cannot read {root / name} for the code snapshot: {exc.strerror}") from None
    files = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    digest = hashlib.sha256("".join(f"{n}\0{h}\n" for n, h in sorted(files.items())).encode()).hexdigest()
    status = git(root, "status", "--porcelain", "--", *PACKAGES) if commit else None
    dirty = bool(status)
    patch = (git(root, "diff", "HEAD", "--", *PACKAGES) or "") if dirty else ""
    untracked = [line[3:] for line in (status or "").splitlines() if line.startswith("??")]
    if untracked:
        patch += "".join(f"\n# untracked, in the snapshot: {name}" for name in untracked) + "\n"
    return Snapshot(digest[:16], commit, dirty, files, patch, str(root), contents, _installed(root))


def _installed(root: Path) -> tuple[str, ...]:
    """The packages' installed dependency folders (e.g. KaTeX's node_modules), not walked into."""
    found = []
    for pkg in PACKAGES:
        for where, dirs, _ in os.walk(root / pkg):
            for name in [d for d in dirs if d in INSTALLED or d in SKIP_PARTS]:
                dirs.remove(name)
                if name in INSTALLED:
                    found.append(str((Path(where) / name).relative_to(root)))
    return tuple(sorted(found))


def warn_if_dirty(snap: Snapshot, spec_path: str) -> None:
    """The code has uncommitted changes, and the spec lies in another repository (the spec's
    own repository is checked by `launch.git.require_clean`): say what the snapshot holds."""
    if not snap.dirty:
        return
    top = git(Path(spec_path).resolve().parent, "rev-parse", "--show-toplevel")
    if top is not None and Path(top).resolve() == Path(git(Path(snap.source), "rev-parse", "--show-toplevel")
                                                         or snap.source).resolve():
        return
    print(f"warning: the code in {snap.source} has uncommitted changes; its snapshot {snap.id} holds them and "
          f"every run records it (labspec code {snap.id} shows the diff)", file=sys.stderr)


def _git_files(root: Path) -> list[str] | None:
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *PACKAGES)
    if listed is None:
        return None
    return sorted({n for n in listed.split("\0") if n and not any(p in SKIP_PARTS for p in Path(n).parts)})


def store(snap: Snapshot, output_root: str) -> Path:
    """Write `snap` under the output root unless a launch of the same code already did
    (content-addressed: same id, same files). All or nothing: it is written beside its
    place and renamed into it, so a full disk leaves no half snapshot to be shared."""
    dest = Path(snapshot_dir(output_root, snap.id))
    if (dest / MANIFEST).is_file():
        return dest
    tmp = dest.with_name(f".{snap.id}.tmp{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        for name, data in snap.contents.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o444)  # a snapshot is never edited
        for name in snap.linked:  # the environment's, as the interpreter is: not part of the id
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).symlink_to(Path(snap.source, name), target_is_directory=True)
        if snap.patch:
            (tmp / PATCH).write_text(snap.patch, encoding="utf-8")
        (tmp / MANIFEST).write_text(json.dumps(snap.manifest(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if dest.exists():  # a half snapshot from before (no manifest): replace it
            shutil.rmtree(dest)
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / MANIFEST).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another launch stored the same code meanwhile
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SnapshotError(f"cannot write the code snapshot under {dest.parent}: {exc.strerror or exc}; "
                            "nothing was submitted. Free space there (or choose another output_root) and launch "
                            "again") from None
    return dest


def stored(output_root: str) -> dict[str, Path]:
    """The snapshots under an output root: id -> directory (complete ones only)."""
    root = Path(code_root(output_root))
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and (p / MANIFEST).is_file()}


def manifest(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    return data


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def remove(path: Path) -> None:
    """Delete a snapshot (its files are read-only; their directories are not)."""
    tmp = path.with_name(f".{path.name}.gone{os.getpid()}")
    path.rename(tmp)  # no half snapshot is ever visible under its id
    shutil.rmtree(tmp)
