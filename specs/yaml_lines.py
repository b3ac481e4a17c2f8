"""Safe YAML loading that remembers the line of every key.

PyYAML's `safe_load` forgets where values came from, so validation errors could not
say ``FILE:LINE``. Here the document is composed into nodes with a `SafeLoader`
(never the unsafe constructors) and converted by hand, recording the line of each
mapping key and sequence item under its path. On the way it rejects what PyYAML
silently accepts: duplicate keys, and alias bombs that expand to millions of nodes.

It also reads ``2e-5`` as a float, as YAML 1.2 (and every researcher) expects;
PyYAML follows YAML 1.1, which needs a dot (``2.0e-5``) and would yield a string.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from specs.errors import Problem, SpecError
from specs.paths import join

Path = tuple[str | int, ...]
Lines = dict[Path, int]

MAX_NODES = 200_000  # far above any real spec; stops "billion laughs" alias expansion


class _Loader(yaml.SafeLoader):
    """SafeLoader plus YAML 1.2 exponent floats without a dot."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str, source: str) -> tuple[Any, Lines]:
    """Parse one YAML document; return its data and the line of every path in it."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects non-printable characters here
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: Lines = {(): node.start_mark.line + 1}
        converter = _Converter(loader, source, lines)
        return converter.convert(node, ()), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(m) for m in (exc.context, exc.problem) if m)
        raise SpecError([Problem(source, line, "", f"YAML syntax error: {msg}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(source, None, "", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise SpecError([Problem(source, None, "", "the document is nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()


class _Converter:
    def __init__(self, loader: _Loader, source: str, lines: Lines) -> None:
        self.loader = loader
        self.source = source
        self.lines = lines
        self.count = 0
        self.active: set[int] = set()  # nodes being converted: an alias among them is a loop

    def convert(self, node: yaml.Node, path: Path) -> Any:
        if id(node) in self.active:
            raise SpecError([Problem(self.source, node.start_mark.line + 1, join(path),
                                     "an alias refers to a value that contains it; write the value out")])
        self.active.add(id(node))
        try:
            return self._convert(node, path)
        finally:
            self.active.discard(id(node))

    def _construct(self, node: yaml.Node, path: Path) -> Any:
        """A scalar through SafeConstructor; its errors (bad dates, !!float abc) become ours."""
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise SpecError([Problem(self.source, node.start_mark.line + 1, join(path),
                                     f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: {exc}; "
                                     "quote it to keep it a string")]) from None

    def _convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                [Problem(self.source, node.start_mark.line + 1, join(path),
                         f"document expands to more than {MAX_NODES} values "
                         "(an alias loop or bomb?); write the values out")]
            )
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._construct(key_node, path)
                line = key_node.start_mark.line + 1
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise SpecError([Problem(self.source, line, join(path),
                                             "mapping keys must be plain scalars")])
                if key in out:
                    first = self.lines.get(path + (_key(key),))
                    raise SpecError([Problem(
                        self.source, line, join(path + (_key(key),)),
                        f"duplicate key (first set on line {first}); keep one of them")])
                self.lines[path + (_key(key),)] = line
                out[key] = self.convert(value_node, path + (_key(key),))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines[path + (i,)] = item.start_mark.line + 1
                items.append(self.convert(item, path + (i,)))
            return items
        return self._construct(node, path)


def _key(key: object) -> str | int:
    return key if isinstance(key, (str, int)) and not isinstance(key, bool) else str(key)

