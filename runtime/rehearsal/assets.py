"""Task `rehearsal_assets`: build every rehearsal model and write every rehearsal data
file the plan's runs read, before any of them starts.

Each is built once per source (the compiler names its path after the source and its
shape) and reused by later rehearsals: a marker beside it records the spec it was built
from, and a different spec rebuilds it. Two rehearsals building the same thing at once
take turns (a lock file beside it); a build goes into a scratch folder renamed into place,
so a killed build leaves nothing half-written where a run would read it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from runtime.core import results
from runtime.core.io import atomic_write_json
from specs.tasks import RunConfig
from specs.tasks.rehearsal import RehearsalAssetsTask, RehearsalData

MARKER = ".rehearsal.json"
FOLDER_LAYOUTS = ("formula", "images", "image_classes", "lm_eval")


def run(run: RunConfig, tc: RehearsalAssetsTask) -> int:
    from runtime.rehearsal import models

    started = time.time()
    built: dict[str, Any] = {"models": {}, "datasets": {}}
    reused = 0
    for model in tc.models:
        record, fresh = ensure(Path(model.path), model, partial(models.build, model))
        built["models"][model.source] = {**record, "path": model.path}
        reused += not fresh
    for ds in tc.datasets:
        record, fresh = ensure(Path(ds.path), ds, partial(_write, ds))
        built["datasets"][ds.source] = record
        reused += not fresh
    for source, record in built["models"].items():
        print(f"rehearsal: {source} -> {record['class']} ({record['parameters']:,} parameters"
              f"{', ' + record['processor'] if record.get('processor') else ''})", flush=True)
    for source, record in built["datasets"].items():
        print(f"rehearsal: {source} -> {record.get('rows')} rows ({record['layout']})", flush=True)
    atomic_write_json(Path(run.run_dir, "outputs", "assets.json"), built)
    results.finish(run, {"models": len(tc.models), "datasets": len(tc.datasets), "reused": reused,
                         "seconds": round(time.time() - started, 2)}, None, timeline=False)
    return 0


def _write(spec: RehearsalData, target: Path) -> dict[str, Any]:
    from runtime.rehearsal import data

    return data.write(spec.model_copy(update={"path": str(target)}))


def ensure(path: Path, spec: BaseModel, build: Callable[[Path], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """(what was built, whether it was built now) for the thing `spec` describes at `path`.

    The unit built and replaced is a folder: a model's, a folder layout's, or the folder a
    data file sits in with what sits beside it (its images)."""
    folder = not isinstance(spec, RehearsalData) or spec.layout in FOLDER_LAYOUTS
    unit = path if folder else path.parent
    digest = hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    marker = unit.with_name(f".{unit.name}{MARKER}")
    with _locked(unit.with_name(f".{unit.name}.lock")):
        if marker.is_file() and unit.exists():
            known = json.loads(marker.read_text(encoding="utf-8"))
            if known.get("spec") == digest:
                return dict(known["built"]), False
        scratch = unit.with_name(f".{unit.name}.building")
        _remove(scratch)
        scratch.mkdir(parents=True)
        record = json.loads(json.dumps(build(scratch if folder else scratch / path.name)).replace(
            str(scratch), str(unit)))  # the paths it will have
        marker.unlink(missing_ok=True)
        _remove(unit)
        scratch.rename(unit)
        atomic_write_json(marker, {"spec": digest, "built": record})
        return record, True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
