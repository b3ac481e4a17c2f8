"""Reading task data: JSONL, JSON, Parquet, Arrow or a `datasets` directory on disk,
with the spec's field names mapped to the task's, and clear errors for missing files or
columns (before any training starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.errors import TaskInputError


def resolve(path: str | None, base_dir: str) -> str | None:
    """Spec paths are relative to the directory labspec compiled in (run.json's base_dir)."""
    if path is None:
        return None
    p = Path(path)
    return str(p if p.is_absolute() else Path(base_dir, p))


def resolve_model(name: str, base_dir: str, what: str = "model.name_or_path") -> str:
    """A model reference: a local folder (relative to base_dir) or a hub id ('org/name')."""
    p = Path(name)
    local = p.is_absolute() or name.startswith((".", "~")) or Path(base_dir, name).exists()
    if local or name.count("/") != 1:
        return require_model(str(p.expanduser() if p.is_absolute() or name.startswith("~")
                                 else Path(base_dir, name)), what)
    return require_model(name, what)


def require_model(path: str, what: str = "model.name_or_path") -> str:
    """A local model folder, or a hub id when the hub may be reached: else a clear error
    instead of a stack of retries."""
    import os

    p = Path(path)
    looks_local = p.is_absolute() or path.startswith((".", "~")) or p.exists() or path.count("/") != 1
    if p.is_dir():
        if not (p / "config.json").exists():
            raise TaskInputError(f"{what}: {path} is a folder but not a model (no config.json)")
        return path
    if looks_local:
        raise TaskInputError(f"{what}: {path} does not exist")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise TaskInputError(
            f"{what}: {path!r} is a hub id and the hub is offline here (HF_HUB_OFFLINE=1). Download it where "
            f"the hub is reachable (huggingface-cli download {path} --local-dir DIR), copy DIR to the cluster "
            "and set model.name_or_path to it")
    return path


def load(path: str, fmt: str = "jsonl", what: str = "data") -> Any:
    """A `datasets.Dataset` from a local file or directory."""
    import datasets

    if not Path(path).exists():
        raise TaskInputError(f"{what}: {path} does not exist")
    try:
        if fmt == "hf_disk" or Path(path).is_dir():
            ds = datasets.load_from_disk(path)
        else:
            builder = {"jsonl": "json", "json": "json", "parquet": "parquet", "arrow": "arrow"}[fmt]
            ds = datasets.load_dataset(builder, data_files=path, split="train")
    except (ValueError, OSError, datasets.exceptions.DatasetGenerationError) as exc:
        raise TaskInputError(f"{what}: cannot read {path} as {fmt}: {exc}") from None
    return ds


def require_columns(ds: Any, columns: list[str], path: str, field_hint: str) -> None:
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise TaskInputError(f"{path} has no column {', '.join(map(repr, missing))} (it has "
                             f"{', '.join(ds.column_names)}); set {field_hint} in the spec")
