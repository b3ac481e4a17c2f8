"""Small file helpers the tasks share: JSON and JSONL written atomically (a temporary file
renamed into place), so a reader, another rank or a requeued run never sees half a file,
and a full disk leaves no half-file behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[Any]:
    """Every non-empty line of a JSONL file, parsed."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """One JSON object per line, all at once."""
    atomic_write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` all at once: a temporary file renamed into place, removed
    again when writing fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
