"""Dotted paths into the spec models: does `training.lr` exist, and what was meant?

Used to check sweep and override paths before anything is validated, and to suggest
the right key when a spec misspells one ("did you mean 'lr'?").
"""

from __future__ import annotations

import types
from difflib import get_close_matches
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

Path = tuple[str | int, ...]


def is_index(part: str) -> bool:
    return part.isascii() and part.isdigit()  # '²'.isdigit() is True, int('²') fails


def split(dotted: str) -> Path:
    """'ladder.models.0.dtype' -> ('ladder', 'models', 0, 'dtype')."""
    return tuple(int(p) if is_index(p) else p for p in dotted.split("."))


def join(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _models_in(annotation: Any) -> list[Any]:
    """The alternatives of an annotation with Optional/Union/Annotated peeled off."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in get_args(annotation):
            out.extend(_models_in(arg))
        return out
    if origin is not None and getattr(origin, "__name__", "") == "Annotated":
        return _models_in(get_args(annotation)[0])
    if hasattr(annotation, "__metadata__"):  # typing.Annotated
        return _models_in(get_args(annotation)[0])
    return [annotation]


def resolve(model: type[BaseModel], path: Path) -> str | None:
    """None when `path` names a field (or lies inside a free-form dict); else why not."""
    current: list[Any] = [model]
    for depth, part in enumerate(path):
        nxt: list[Any] = []
        free_form = False
        names: list[str] = []
        for ann in current:
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                names.extend(ann.model_fields)
                if isinstance(part, str) and part in ann.model_fields:
                    nxt.extend(_models_in(ann.model_fields[part].annotation))
                continue
            origin = get_origin(ann)
            if origin is dict:
                val_t = (get_args(ann) or (Any, Any))[1]
                if val_t is Any:
                    free_form = True
                nxt.extend(_models_in(val_t))
            elif origin in (list, tuple) and isinstance(part, int):
                args = [a for a in get_args(ann) if a is not Ellipsis]
                for a in args:
                    nxt.extend(_models_in(a))
            elif ann is Any:
                free_form = True
        if free_form:
            return None
        if not nxt:
            where = join(path[:depth]) or "the top level"
            if names and isinstance(part, str):
                close = get_close_matches(part, names, n=1)
                hint = f"; did you mean {join(path[:depth] + (close[0],))!r}?" if close else ""
                return f"{join(path)!r} is not a field ({part!r} is unknown in {where}){hint}"
            return f"{join(path)!r} is not a field ({where} has no {part!r})"
        current = nxt
    return None


def field_names_at(model: type[BaseModel], path: Path) -> list[str]:
    """Field names of the model found at `path` (for 'did you mean' on unknown keys)."""
    current: list[Any] = [model]
    for part in path:
        nxt: list[Any] = []
        for ann in current:
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                if isinstance(part, str) and part in ann.model_fields:
                    nxt.extend(_models_in(ann.model_fields[part].annotation))
            elif get_origin(ann) is dict:
                nxt.extend(_models_in((get_args(ann) or (Any, Any))[1]))
            elif get_origin(ann) in (list, tuple):
                for a in get_args(ann):
                    nxt.extend(_models_in(a))
        current = nxt
    names: list[str] = []
    for ann in current:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names.extend(n for n in ann.model_fields if n not in names)
    return names
