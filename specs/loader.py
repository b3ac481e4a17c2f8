"""Load a spec file (YAML, or a Python module the user names), follow `extends`,
apply command-line overrides, validate, and report every problem at its line.

The raw document is kept next to the validated experiment (`LoadedSpec`) because the
compiler re-validates it once per sweep point: a swept value is checked exactly like
a value written in the file.
"""

from __future__ import annotations

import copy
import hashlib
import re
import runpy
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from specs import paths, rules
from specs.base import ExperimentBase
from specs.errors import Problem, SpecError
from specs.merge import deep_merge
from specs.overrides import Override, apply_override, parse_overrides
from specs.registry import KINDS
from specs.yaml_lines import MAX_NODES, load_yaml

Path = tuple[str | int, ...]
Origin = tuple[str, int | None]  # (source, line)
MAX_EXTENDS_DEPTH = 16
YAML_SUFFIXES = (".yaml", ".yml")
MAX_DEPTH = 64  # nesting of a spec's values; real specs use under 10
MAX_INT = 2**53  # larger integers are not exact in JSON and overflow SQLite and torch


@dataclass
class Document:
    """A merged raw spec document and where each of its paths was written."""

    data: dict[str, Any]
    origins: dict[Path, Origin] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # files read, the named one first

    def locate(self, path: Sequence[str | int]) -> Origin:
        """The origin of the longest prefix of `path` that the document records."""
        p = tuple(path)
        while p:
            if p in self.origins:
                return self.origins[p]
            p = p[:-1]
        return self.origins.get((), (self.sources[0] if self.sources else "<spec>", None))


@dataclass
class LoadedSpec:
    """A validated experiment plus what the compiler and provenance need to know."""

    experiment: ExperimentBase
    document: Document
    path: str
    content_sha256: str
    overrides: tuple[str, ...] = ()

    def with_values(self, values: Mapping[str, Any], label: str) -> ExperimentBase:
        """The experiment with dotted-path `values` set (one sweep point), re-validated."""
        data = dict(self.document.data)
        data.pop("sweep", None)
        origins = dict(self.document.origins)
        for dotted, value in values.items():
            path = paths.split(dotted)
            _copy_along(data, path)  # the rest stays shared: validation never mutates it
            apply_override(data, path, value, f"sweep point {label}")
            origins[path] = self._sweep_origin(dotted)
        return validate(Document(data, origins, self.document.sources), context=f"sweep point {label}")

    def _sweep_origin(self, dotted: str) -> Origin:
        """Where a swept value was written, so a bad value is reported at its sweep line."""
        sweep = self.experiment.sweep
        if dotted in sweep.grid:
            return self.document.locate(("sweep", "grid", dotted))
        for i, group in enumerate(sweep.zip):
            if dotted in group:
                return self.document.locate(("sweep", "zip", i, dotted))
        return self.document.locate(("sweep", "seeds"))


def _copy_along(data: dict[str, Any], path: Path) -> None:
    """Shallow-copy the containers on `path` so that setting its leaf leaves the original."""
    node: Any = data
    for part in path[:-1]:
        if isinstance(node, dict):
            child = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            child = node[part]
        else:
            return
        if not isinstance(child, (dict, list)):
            return
        node[part] = node = copy.copy(child)


def load_spec(path: str | FsPath, overrides: Iterable[str] = ()) -> LoadedSpec:
    """Read, merge, override and validate the spec at `path`."""
    src = FsPath(path)
    overrides = tuple(overrides)
    doc = read_document(src)
    for ov in parse_overrides(overrides):
        _apply_cli_override(doc, ov)
    experiment = validate(doc)
    digest = hashlib.sha256()
    for source in doc.sources:
        digest.update(FsPath(source).read_bytes())
    return LoadedSpec(experiment, doc, str(src), digest.hexdigest(), overrides)


def load_text(text: str, source: str = "<spec>") -> ExperimentBase:
    """Validate a YAML document given as text (no `extends`); for tests and tools."""
    data, lines = load_yaml(text, source)
    doc = _as_document(data, lines, source)
    if "extends" in doc.data:
        raise SpecError([Problem(source, doc.locate(("extends",))[1], "extends",
                                 "extends needs a spec file on disk")])
    return validate(doc)


# --- reading files ----------------------------------------------------------------


def read_document(path: FsPath, _chain: tuple[str, ...] = ()) -> Document:
    """The spec at `path` with its `extends` chain deep-merged underneath it."""
    source = str(path)
    if not path.is_file():
        where = f" (extended by {_chain[-1]})" if _chain else ""
        raise SpecError([Problem(source, None, "", f"spec file not found{where}")])
    resolved = str(path.resolve())
    if resolved in _chain:
        cycle = " -> ".join([*_chain, resolved])
        raise SpecError([Problem(source, None, "extends", f"extends cycle: {cycle}")])
    if len(_chain) >= MAX_EXTENDS_DEPTH:
        raise SpecError([Problem(source, None, "extends", "extends chain is too deep")])

    suffix = path.suffix.lower()
    if _chain and suffix not in YAML_SUFFIXES:
        # A base is named by another file, so it is never code: running it would let
        # anyone who can commit a spec run Python under validate, --changed or the hook.
        raise SpecError([Problem(_chain[-1], None, "extends",
                                 f"extends names {source}, which is not a YAML spec: a base spec must be "
                                 "YAML (.yaml/.yml). Python specs are code and run only when you name them "
                                 "on the command line; to reuse a Python base, import it in a Python spec")])
    if suffix == ".py":
        doc = _read_python(path)
    elif suffix in YAML_SUFFIXES:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError([Problem(source, None, "", f"cannot read spec: {exc}")]) from None
        data, lines = load_yaml(text, source)
        doc = _as_document(data, lines, source)
    else:
        raise SpecError([Problem(source, None, "", "a spec is a .yaml/.yml file or a .py module")])

    base_ref = doc.data.get("extends")
    if base_ref is None:
        return doc
    if not isinstance(base_ref, str) or not base_ref:
        raise SpecError([Problem(source, doc.locate(("extends",))[1], "extends",
                                 "extends must be the path of a base spec")])
    base_path = (path.parent / base_ref) if not FsPath(base_ref).is_absolute() else FsPath(base_ref)
    base = read_document(base_path, (*_chain, resolved))
    merged = deep_merge(base.data, doc.data, null_removes=True)
    merged.pop("extends", None)
    origins = dict(base.origins)
    for p in [p for p in origins if p and p[0] == "extends"]:
        del origins[p]
    for p in _paths_in(doc.data):
        _drop_replaced(origins, p, doc.data)
        origins[p] = doc.origins.get(p) or doc.locate(p)
    return Document(merged, origins, [*doc.sources, *base.sources])


def _read_python(path: FsPath) -> Document:
    """Run a Python spec (only ever one the user named) and take its `experiment`."""
    source = str(path)
    try:
        namespace = runpy.run_path(source, run_name="__labspec_spec__")
        value = namespace.get("experiment", _MISSING)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="python", exclude_unset=True)
    except SpecError:
        raise
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:
        raise SpecError([Problem(source, None, "", f"the spec called sys.exit({_safe_repr(exc.code)}); "
                                 "a Python spec only defines `experiment`")]) from None
    except ValidationError as exc:
        raise SpecError(_validation_problems(exc, None, Document({}, {}, [source]))) from None
    except BaseException as exc:  # the user's code (any exception class): where it failed, not our stack
        tb = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path.resolve())
              or f.filename == source]
        line = tb[-1].lineno if tb else None
        raise SpecError([Problem(source, line, "", f"running the spec failed: "
                                 f"{type(exc).__name__}: {_short(exc)}")]) from None
    if value is _MISSING:
        raise SpecError([Problem(source, None, "", "a Python spec must define `experiment` "
                                 "(a dict, or an experiment model from specs)")])
    if not isinstance(value, dict):
        raise SpecError([Problem(source, None, "experiment",
                                 f"must be a dict or an experiment model, not {type(value).__name__}")])
    plain, problem = _plain(value)
    if problem is not None:
        raise SpecError([Problem(source, None, problem[0] or "experiment", problem[1])])
    return Document(plain, {(): (source, None)}, [source])


_MISSING = object()


def _short(exc: BaseException, limit: int = 300) -> str:
    try:
        text = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException:  # a user's __str__ may fail too
        text = "(no message)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_repr(value: Any, limit: int = 60) -> str:
    """repr() of a value a user made, which may fail or be enormous."""
    try:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        text = repr(value)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return f"<a {type(value).__name__} that cannot be shown>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any) -> tuple[Any, tuple[str, str] | None]:
    """A copy of what a Python spec built, made of dicts, lists, strings, numbers, booleans
    and None only; else (None, (dotted path, why)). Iterative: a spec may nest without end,
    contain itself, hold a generator or an object whose copy or repr fails."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any, Any, tuple[str | int, ...]]] = [(root, "x", value, ())]
    seen = 0
    while stack:
        parent, key, node, path = stack.pop()
        seen += 1
        where = paths.join(path)
        if len(path) > MAX_DEPTH:
            return None, (where, f"is nested more than {MAX_DEPTH} levels deep (or contains itself); "
                                 "a spec is a few levels of mappings and lists")
        if seen > MAX_NODES:
            return None, (where, f"holds more than {MAX_NODES:,} values; a spec is far smaller "
                                 "(use a sweep for many runs)")
        if isinstance(node, dict):
            out: dict[str, Any] = dict.fromkeys(node)  # keys in their order (a sweep's order names runs)
            parent[key] = out
            for k, v in node.items():
                if not isinstance(k, str):
                    return None, (where, f"has a key that is not a string: {_safe_repr(k)}")
                stack.append((out, k, v, (*path, k)))
        elif isinstance(node, (list, tuple)):
            parent[key] = items = [None] * len(node)
            stack.extend((items, i, v, (*path, i)) for i, v in enumerate(node))
        elif isinstance(node, PLAIN):
            if isinstance(node, int) and not isinstance(node, bool) and node.bit_length() > 63:
                return None, (where, f"{_safe_repr(node)} is too large for any field")
            parent[key] = node
        else:
            return None, (where, f"a {type(node).__name__} is not a spec value; use dicts, lists, strings, "
                                 "numbers, booleans and None")
    return root["x"], None


def _as_document(data: Any, lines: dict[Path, int], source: str) -> Document:
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError([Problem(source, lines.get(()), "",
                                 f"a spec must be a mapping of fields (name:, kind:, ...), it is {what}")])
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise SpecError([Problem(source, lines.get((paths.join((_k(bad[0]),)),)), "",
                                 f"top-level keys must be names, not {bad[0]!r}")])
    return Document(data, {p: (source, ln) for p, ln in lines.items()}, [source])


def _k(key: Any) -> str | int:
    return key if isinstance(key, (str, int)) else str(key)


def _paths_in(data: Any, prefix: Path = ()) -> list[Path]:
    out: list[Path] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        p = (*prefix, _k(key))
        out.append(p)
        out.extend(_paths_in(value, p))
    return out


def _drop_replaced(origins: dict[Path, Origin], p: Path, data: dict[str, Any]) -> None:
    """A list replaced by the child spec loses the base's item origins."""
    node: Any = data
    for part in p:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    if isinstance(node, list):
        for q in [q for q in origins if len(q) > len(p) and q[: len(p)] == p]:
            del origins[q]


def _apply_cli_override(doc: Document, ov: Override) -> None:
    apply_override(doc.data, ov.path, ov.value, ov.text)
    for q in [q for q in doc.origins if q[: len(ov.path)] == ov.path]:
        del doc.origins[q]
    doc.origins[ov.path] = (f"override -o {ov.text}", None)


# --- validation -----------------------------------------------------------------


def validate(doc: Document, context: str | None = None) -> ExperimentBase:
    """Validate a merged document: structure first, then the cross-field rules."""
    source = doc.sources[0] if doc.sources else "<spec>"
    kind = doc.data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        line = doc.locate(("kind",))[1] if "kind" in doc.data else doc.locate(())[1]
        known = ", ".join(KINDS)
        if kind is None:
            msg = f"missing: every spec names its kind ({known})"
        else:
            close = get_close_matches(str(kind), KINDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = f"unknown kind {kind!r} (kinds: {known}){hint}"
        raise SpecError([Problem(doc.locate(("kind",))[0] if "kind" in doc.data else source, line,
                                 "kind", _ctx(context, msg))])
    bad_text = [Problem(*doc.locate(path), paths.join(path), _ctx(context, msg))
                for path, msg in _unwritable_strings(doc.data, ())]
    if bad_text:
        raise SpecError(bad_text)
    cls = KINDS[kind]
    try:
        exp = cls.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(_validation_problems(exc, cls, doc, context)) from None
    huge = [Problem(*doc.locate(path), paths.join(path),
                    _ctx(context, f"{_safe_repr(value)} is too large for a count (at most 2^53 = {MAX_INT:,})"))
            for path, value in _huge_ints(exp.model_dump(mode="python"), ())]
    if huge:
        raise SpecError(huge)
    findings = rules.check(exp)
    if findings:
        problems = []
        for dotted, message in findings:
            origin = doc.locate(paths.split(dotted))
            problems.append(Problem(origin[0], origin[1], dotted, _ctx(context, message)))
        raise SpecError(problems)
    return exp


def _huge_ints(node: Any, path: Path) -> list[tuple[Path, int]]:
    """Integers past 2^53 anywhere in a validated spec: fields with a sane bound of their
    own say so first; this catches the rest before they reach JSON, SQLite or torch."""
    if isinstance(node, int) and not isinstance(node, bool):
        return [(path, node)] if abs(node) > MAX_INT else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    found: list[tuple[Path, int]] = []
    for key, value in items:
        found += _huge_ints(value, (*path, _k(key)))
    return found


def _unwritable_strings(node: Any, path: Path) -> list[tuple[Path, str]]:
    """Strings that cannot reach a file or a process intact: NUL (argv and environment
    end there) and lone surrogates (not UTF-8)."""
    found: list[tuple[Path, str]] = []
    if isinstance(node, str):
        if "\x00" in node:
            found.append((path, "contains a NUL character; remove it"))
        else:
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                found.append((path, "is not valid UTF-8 text (a lone surrogate); remove it"))
    elif isinstance(node, dict):
        for key, value in node.items():
            p = (*path, _k(key))
            found += _unwritable_strings(key, p) + _unwritable_strings(value, p)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _unwritable_strings(value, (*path, i))
    return found


def _ctx(context: str | None, message: str) -> str:
    return f"{message} (in {context})" if context else message


def _validation_problems(exc: ValidationError, cls: type[BaseModel] | None, doc: Document,
                         context: str | None = None) -> list[Problem]:
    problems = []
    errors = exc.errors(include_url=False)
    relevant = [e for e in errors if not _irrelevant_union_branch(e)] or errors
    for err in relevant:
        path = _clean_loc(err["loc"], doc.data)
        origin = doc.locate(path)
        message = _message(err, cls, path)
        problems.append(Problem(origin[0], origin[1], paths.join(path), _ctx(context, message)))
    return problems


def _clean_loc(loc: Sequence[str | int], data: Any) -> Path:
    """Drop the union-member labels pydantic puts into locations ('str', 'LocalTask')."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            out.append(part)
        elif last or not isinstance(part, str) or not _looks_like_type_label(part):
            node = None
            out.append(part)
    return tuple(out)


def _irrelevant_union_branch(err: Any) -> bool:
    """A scalar branch of `str | Model` complaining about a mapping the user clearly meant
    as the model: the model branch's own errors say what is wrong."""
    loc = err["loc"]
    return (isinstance(err.get("input"), dict) and bool(loc) and isinstance(loc[-1], str)
            and _looks_like_type_label(loc[-1]) and str(err["type"]).endswith("_type"))


def _looks_like_type_label(part: str) -> bool:
    return part[:1].isupper() or "[" in part or part in ("str", "int", "float", "bool", "list", "dict")


def _message(err: Any, cls: type[BaseModel] | None, path: Path) -> str:
    kind = err["type"]
    if kind == "extra_forbidden" and cls is not None:
        names = paths.field_names_at(cls, path[:-1])
        close = get_close_matches(str(path[-1]), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        return f"unknown field{hint} (known here: {shown})"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error" and isinstance(err.get("input"), str):
        # a closed set of names (metrics, normalisers, loss types, ...): suggest the nearest
        allowed = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        close = get_close_matches(err["input"], allowed, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown name {err['input']!r}{hint} (one of: {', '.join(allowed)})"
    msg = str(err["msg"])
    if "input" in err and kind not in ("missing",) and not isinstance(err["input"], (dict, list)):
        msg = f"{msg} (got {_safe_repr(err['input'])})"
    return msg.replace("Value error, ", "")
