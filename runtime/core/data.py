"""Reading task data: JSONL, JSON, Parquet, Arrow or a `datasets` directory on disk,
with the spec's field names mapped to the task's (the one field-name resolver,
`columns`), and clear errors for missing, empty or malformed files and columns (before
any training starts)."""

from __future__ import annotations

import codecs
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.core.errors import TaskInputError
from specs.tasks import DatasetRef, VisionPrompt


def resolve(path: str | None, base_dir: str) -> str | None:
    """Spec paths are relative to the directory labspec compiled in (run.json's base_dir)."""
    if path is None:
        return None
    p = Path(path)
    return str(p if p.is_absolute() else Path(base_dir, p))


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


@dataclass(frozen=True)
class Columns:
    """Which fields of a dataset a task reads: the prompt (None when every row gets one
    fixed prompt), the answer, the image (vision-language data)."""

    prompt: str | None
    answer: str
    image: str | None = None
    fixed_prompt: str | None = None

    def needed(self) -> list[str]:
        return [self.answer, *([self.prompt] if self.prompt else []), *([self.image] if self.image else [])]


def columns(ref: DatasetRef, vision: VisionPrompt | None = None) -> Columns:
    """The fields to read: a vision prompt's own names, else the data section's."""
    if vision is None:
        return Columns(ref.prompt_field, ref.completion_field, ref.image_field)
    prompt = vision.prompt_field or (None if vision.prompt else ref.prompt_field)
    return Columns(prompt, vision.answer_field, vision.image_field, vision.prompt)


def load_ref(ref: DatasetRef, base_dir: str, what: str) -> tuple[Any, str]:
    """(dataset, resolved path) of a dataset reference, at most `max_samples` rows."""
    path = str(resolve(ref.path, base_dir))
    ds = load(path, ref.format, what)
    if ref.max_samples and len(ds) > ref.max_samples:
        ds = ds.select(range(ref.max_samples))
    return answers_from_chats(ds, ref.completion_field, path), path


def answers_from_chats(ds: Any, field: str, path: str) -> Any:
    """A completion field holding chat messages (UltraChat's `messages`, the format TRL calls
    conversational) becomes the text of its first assistant turn: the answer to the
    prompt, as SPIN and SFT on UltraChat take it."""
    if field not in ds.column_names or not is_chat(ds[0][field]):
        return ds

    def first_answer(row: dict[str, Any]) -> dict[str, Any]:
        turns = row[field] if isinstance(row[field], list) else []
        answer = next((t.get("content") for t in turns if isinstance(t, dict) and t.get("role") == "assistant"), None)
        return {field: answer}

    out = ds.map(first_answer)
    if all(value is None for value in out[field]):
        raise TaskInputError(f"{path}: {field!r} holds chat messages but none has an assistant turn")
    return out


def is_chat(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(t, dict) and "role" in t and "content" in t for t in value))


def read_rows(path: Path, what: str) -> list[dict[str, Any]]:
    """The rows of a JSONL file read without `datasets` (small files of paths and labels):
    every problem named by its line (not UTF-8, not JSON, not an object), none at all an error."""
    if path.is_dir():
        raise TaskInputError(f"{what}: {path} is a directory, not a JSONL file")
    if not path.is_file():
        raise TaskInputError(f"{what}: {path} does not exist")
    if not _is_utf8(path):
        raise TaskInputError(f"{what}: cannot read {path}: {_diagnose(path, 'jsonl')}")
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise TaskInputError(f"{what}: {path}:{number} is not JSON ({exc.args[0] if exc.args else exc})") from None
        if not isinstance(row, dict):
            raise TaskInputError(f"{what}: {path}:{number} is not a JSON object")
        rows.append(row)
    if not rows:
        raise TaskInputError(f"{what}: {path} is empty; it needs at least one row")
    return rows


def filled(rows: list[dict[str, Any]], keys: list[str], path: Path | str, empty: str = "skip") -> list[dict[str, Any]]:
    """`rows` whose `keys` are all present and neither null nor empty: the others are skipped,
    saying how many, or with `empty="refuse"` stop the run naming the first."""
    keep = [r for r in rows if all(_filled(r.get(k)) for k in keys)]
    if len(keep) == len(rows):
        return rows
    if empty == "refuse" or not keep:
        first = next(i for i, r in enumerate(rows) if not all(_filled(r.get(k)) for k in keys))
        column = next(k for k in keys if not _filled(rows[first].get(k)))
        raise TaskInputError(f"{path}: row {first + 1} has an empty or missing {column!r} "
                             f"({len(rows) - len(keep)} of {len(rows)} such rows); fill or drop them")
    print(f"warning: {path}: skipped {len(rows) - len(keep)} of {len(rows)} rows with an empty or null "
          f"{' or '.join(map(repr, keys))}", file=sys.stderr, flush=True)
    return keep
