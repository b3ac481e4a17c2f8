"""Write a plan's run dirs: run.json, deepspeed.json, launch.sh, provenance.json.

Writing is all-or-nothing per run and never overwrites another run's files: a run dir
that already holds a different run.json is an error, an identical one is left alone.
Secrets are never written: the environment names in `pass_env` stay names.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from compiler.plan import Plan, Run
from launch.git import git_state
from specs.errors import LabspecError
from specs.loader import LoadedSpec
from specs.version import VERSION


class RunDirConflict(LabspecError):
    """A run dir holds files of a different run."""


class EmitError(LabspecError):
    """A run dir cannot be written (permissions, a full disk, ...)."""


def emit(plan: Plan, loaded: LoadedSpec, extra_provenance: dict[str, Any] | None = None,
         submit: Collection[str] | None = None) -> int:
    """Write every run dir of `plan`; return how many were new.

    An existing run dir with the same run.json is the same run. When it is submitted again
    (its id in `submit`; None: every run), its launch script and provenance are brought up
    to date (they depend on the interpreter, the launcher and the code snapshot); else it
    is left alone, so a queued job, or its requeue, runs the code it was launched with.
    """
    prov = {**provenance(loaded), **(extra_provenance or {})}
    files = {r.id: _files(r, prov) for r in plan.runs}
    for r in plan.runs:  # check everything before writing anything
        _check_free(r, files[r.id]["run.json"])
    written = 0
    try:
        for r in plan.runs:
            if _write(r, files[r.id], submit is None or r.id in submit):
                written += 1
    except OSError as exc:
        raise EmitError(f"cannot write run dirs under {plan.output_root}: {exc.strerror or exc} "
                        f"({exc.filename}); choose another output_root or --emit DIR") from None
    return written


def _files(run: Run, prov: dict[str, Any]) -> dict[str, str]:
    out = {
        "run.json": json.dumps(run.config, indent=2, sort_keys=True) + "\n",
        "launch.sh": run.script,
        "provenance.json": json.dumps({**prov, "run_id": run.id, "axes": run.axes, "launcher": run.launcher,
                                       "resources": run.resources}, indent=2) + "\n",
    }
    if run.deepspeed is not None:
        out["deepspeed.json"] = json.dumps(run.deepspeed, indent=2, sort_keys=True) + "\n"
    return out


def write_run(run: Run, prov: dict[str, Any]) -> None:
    """Write one run dir that is not part of a compiled plan (a rerun, `launch.rerun`)."""
    files = _files(run, prov)
    _check_free(run, files["run.json"])
    try:
        _write(run, files, refresh=True)
    except OSError as exc:
        raise EmitError(f"cannot write {run.run_dir}: {exc.strerror or exc} ({exc.filename})") from None


def _check_free(run: Run, run_json: str) -> None:
    existing = Path(run.run_dir) / "run.json"
    if not existing.is_file():
        return
    try:
        on_disk = json.loads(existing.read_text(encoding="utf-8", errors="replace"))
    except ValueError:
        on_disk = None
    if not isinstance(on_disk, dict) or not same_run(on_disk, json.loads(run_json)):
        raise RunDirConflict(
            f"{run.run_dir} already holds a different run.json; it was not touched. "
            "Move it away, or choose another output_root"
        )


def same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two run.json contents describe the same run: equal but for the directory labspec ran
    in (base_dir), which is not part of a run's identity. The run keeps the base_dir of its
    first launch, so its relative paths keep meaning what they meant then."""
    return {k: v for k, v in a.items() if k != "base_dir"} == {k: v for k, v in b.items() if k != "base_dir"}


def _write(run: Run, files: dict[str, str], refresh: bool) -> bool:
    root = Path(run.run_dir)
    if (root / "run.json").exists():
        for name in ("launch.sh", "deepspeed.json", "provenance.json") if refresh else ():
            path = root / name
            if name in files and (not path.exists() or path.read_text(encoding="utf-8") != files[name]):
                _atomic_write(path, files[name], executable=name.endswith(".sh"))
        return False
    # tb/, checkpoints/, outputs/ and logs/ appear when the run first writes to them
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if name != "run.json":  # a half-written dir has no run.json and is written again
            _write_file(root / name, text, executable=name.endswith(".sh"))
    _atomic_write(root / "run.json", files["run.json"])  # last: marks the dir complete
    return True


def _write_file(path: Path, text: str, executable: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        if executable:
            os.fchmod(fh.fileno(), 0o755)


def _atomic_write(path: Path, text: str, executable: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        _write_file(tmp, text, executable)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def provenance(loaded: LoadedSpec) -> dict[str, Any]:
    """Where a run came from: spec, its hash, git state, overrides, labspec version."""
    spec = Path(loaded.path).resolve()
    return {
        "spec": str(spec),
        "spec_files": loaded.document.sources,
        "spec_sha256": loaded.content_sha256,
        "resolved_spec_sha256": hashlib.sha256(
            json.dumps(loaded.experiment.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest(),
        "overrides": list(loaded.overrides),
        "labspec_version": VERSION,
        **git_state(spec.parent),
    }
