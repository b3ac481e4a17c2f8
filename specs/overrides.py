"""Command-line overrides: ``-o training.lr=2e-5``, ``-o sweep.grid.training.lr=[1e-5,2e-5]``.

Values are read as YAML scalars or flow lists/maps (the same safe loader as spec
files), so ``-o peft.enabled=true`` is a bool and ``-o training.lr=2e-5`` a float.
Under ``sweep.grid`` and ``sweep.zip.N`` the rest of the key is one dotted path (the
swept field), not a nesting of mappings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from specs.errors import Problem, SpecError
from specs.paths import is_index, join, split
from specs.yaml_lines import load_yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Override:
    text: str
    path: Path
    value: Any


def parse_override(text: str) -> Override:
    source = f"override -o {text}"
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError([Problem(source, None, "", "write overrides as -o dotted.field=value")])
    parts = key.split(".")
    if any(not p for p in parts):
        raise SpecError([Problem(source, None, key, "empty part in the dotted path")])
    if parts[0] == "extends":
        raise SpecError([Problem(source, None, key, "extends cannot be overridden; edit the spec's extends")])
    path: list[str | int]
    if parts[:2] == ["sweep", "grid"] and len(parts) > 2:
        path = ["sweep", "grid", ".".join(parts[2:])]
    elif parts[:2] == ["sweep", "zip"] and len(parts) > 3 and is_index(parts[2]):
        path = ["sweep", "zip", int(parts[2]), ".".join(parts[3:])]
    else:
        path = list(split(key))
    value, _ = load_yaml(raw, source) if raw.strip() else ("", {})
    return Override(text, tuple(path), value)


def parse_overrides(texts: Iterable[str]) -> list[Override]:
    """Parse all overrides, reporting every malformed one at once."""
    out: list[Override] = []
    problems: list[Problem] = []
    for text in texts:
        try:
            out.append(parse_override(text))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return out


def apply_override(data: dict[str, Any], path: Path, value: Any, label: str) -> None:
    """Set `path` in the raw document, creating mappings on the way."""
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        nxt = path[depth + 1]
        if isinstance(node, dict):
            child = node.get(part)
            if child is None:
                child = [] if isinstance(nxt, int) else {}
                node[part] = child
            node = child
        elif isinstance(node, list) and isinstance(part, int):
            if not 0 <= part < len(node):
                raise SpecError([Problem(label, None, join(path[: depth + 1]),
                                         f"index {part} is out of range (the list has {len(node)} items)")])
            node = node[part]
        else:
            raise SpecError([Problem(label, None, join(path[: depth + 1]),
                                     "cannot descend into a value that is not a mapping or list")])
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last <= len(node):
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    else:
        raise SpecError([Problem(label, None, join(path), "cannot set a field here")])

