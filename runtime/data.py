"""Reading task data: JSONL, JSON, Parquet, Arrow or a `datasets` directory on disk,
with the spec's field names mapped to the task's, and clear errors for missing files or
columns (before any training starts)."""

from __future__ import annotations

import codecs
import sys
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
    if p.exists():
        raise TaskInputError(f"{what}: {path} is a file, not a model: name the model's folder (the one holding "
                             "config.json and the weights) or a hub id")
    if looks_local:
        raise TaskInputError(f"{what}: {path} does not exist")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise TaskInputError(
            f"{what}: {path!r} is a hub id and the hub is offline here (HF_HUB_OFFLINE=1). Download it where "
            f"the hub is reachable (huggingface-cli download {path} --local-dir DIR), copy DIR to the cluster "
            "and set model.name_or_path to it")
    return path


def load(path: str, fmt: str = "jsonl", what: str = "data") -> Any:
    """A `datasets.Dataset` from a local file or directory, with at least one row."""
    import datasets

    p = Path(path)
    if not p.exists():
        raise TaskInputError(f"{what}: {path} does not exist")
    if p.is_file() and p.stat().st_size < 4096 and not p.read_bytes().strip():
        raise TaskInputError(f"{what}: {path} is empty; it needs at least one row")
    if p.is_file() and fmt in ("jsonl", "json") and not _is_utf8(p):  # pyarrow would load it and fail later
        raise TaskInputError(f"{what}: cannot read {path} as {fmt}: {_diagnose(p, fmt)}")
    try:
        if fmt == "hf_disk" or p.is_dir():
            ds = datasets.load_from_disk(path)
        else:
            builder = {"jsonl": "json", "json": "json", "parquet": "parquet", "arrow": "arrow"}[fmt]
            ds = datasets.load_dataset(builder, data_files=path, split="train")
    except Exception as exc:  # datasets and pyarrow raise many types for a malformed file
        raise TaskInputError(f"{what}: cannot read {path} as {fmt}: {_diagnose(p, fmt) or _first_line(exc)}") from None
    if len(ds) == 0:
        raise TaskInputError(f"{what}: {path} has no rows")
    return ds


def _is_utf8(path: Path) -> bool:
    """The whole file decodes as UTF-8 (in C, 16 MiB at a time)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 24), b""):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _diagnose(path: Path, fmt: str) -> str | None:
    """What is wrong with a text data file that datasets could not read, by line."""
    if fmt not in ("jsonl", "json") or not path.is_file():
        return None
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (f"line {number} is not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); "
                        "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def require_columns(ds: Any, columns: list[str], path: str, field_hint: str, empty: str = "skip") -> Any:
    """`ds` with every column in `columns` present and filled: a missing column stops the run
    with the field to set; rows whose value is null or empty in one of them are skipped,
    saying how many, or with `empty="refuse"` stop the run (an answer of None must never
    be used as the text "None")."""
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise TaskInputError(f"{path} has no column {', '.join(map(repr, missing))} (it has "
                             f"{', '.join(ds.column_names)}); set {field_hint} in the spec")
    keep = [i for i, row in enumerate(ds.select_columns(columns)) if all(_filled(row[c]) for c in columns)]
    if len(keep) == len(ds):
        return ds
    if empty == "refuse":
        kept = set(keep)
        first = next(i for i in range(len(ds)) if i not in kept)
        column = next(c for c in columns if not _filled(ds[first][c]))
        raise TaskInputError(f"{path}: row {first + 1} has an empty {column!r} (empty or null; "
                             f"{len(ds) - len(keep)} such rows); drop them from the file")
    if not keep:
        raise TaskInputError(f"{path}: every row has an empty or null {' or '.join(map(repr, columns))}")
    print(f"warning: {path}: skipped {len(ds) - len(keep)} of {len(ds)} rows with an empty or null "
          f"{' or '.join(map(repr, columns))}", file=sys.stderr, flush=True)
    return ds.select(keep)


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())
