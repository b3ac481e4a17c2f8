"""The labspec spec language: typed experiment specs (YAML or Python), validated by pydantic.

Nothing here imports torch or its friends: loading and validating a spec must be
instant on a login node. The names below load on first use (PEP 562), so that
`labspec --help` does not even build the pydantic models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specs.base import ExperimentBase
    from specs.errors import CompileError, LabspecError, Problem, SpecError
    from specs.loader import LoadedSpec, load_spec, load_text
    from specs.registry import KINDS

_EXPORTS = {
    "ExperimentBase": "specs.base",
    "CompileError": "specs.errors",
    "LabspecError": "specs.errors",
    "Problem": "specs.errors",
    "SpecError": "specs.errors",
    "LoadedSpec": "specs.loader",
    "load_spec": "specs.loader",
    "load_text": "specs.loader",
    "KINDS": "specs.registry",
}

__all__ = [
    "KINDS",
    "CompileError",
    "ExperimentBase",
    "LabspecError",
    "LoadedSpec",
    "Problem",
    "SpecError",
    "load_spec",
    "load_text",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'specs' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
