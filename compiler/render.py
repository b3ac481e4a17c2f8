"""Render launch scripts from the jinja2 templates in `compiler/templates/`.

Every value interpolated into a script goes through the `q` filter (shell quoting);
`ShellVar` marks the few arguments that must stay shell variables (the head node, the
port, the node rank), which are set by the script itself, never by a spec.
StrictUndefined turns a missing template variable into an error instead of an empty
string.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch only


class ShellVar(str):
    """An argument that is a variable the script sets, e.g. ShellVar('MASTER_ADDR')."""

    __slots__ = ()


def quote(value: Any) -> str:
    if isinstance(value, ShellVar):
        if not _NAME.fullmatch(value):
            raise ValueError(f"not a shell variable name: {value!r}")
        return f'"${{{value}}}"'
    return shlex.quote(str(value))


def env_name(value: Any) -> str:
    text = str(value)
    if not _NAME.fullmatch(text):
        raise ValueError(f"not an environment variable name: {text!r}")
    return text


def one_line(value: Any) -> str:
    """For comments: a value on one line, so it cannot end the comment."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(value))


def argv(args: list[Any]) -> str:
    return " ".join(quote(a) for a in args)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(q=quote, env_name=env_name, one_line=one_line, argv=argv)
    return env


def render(launcher: str, **context: Any) -> str:
    return environment().get_template(f"{launcher}.sh.j2").render(**context)
