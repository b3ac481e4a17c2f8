"""The runtime's registries: tasks, evaluators, GRPO rewards, normalisers, answer extractors and prompt
styles, by name.

Generic tasks register theirs in `runtime.tasks`; each route package registers its own in
its `__init__` (`runtime.<kind>`), so a generic task looks a route's normaliser or prompt
style up by name without importing the route. The entry point (`python -m runtime`)
loads every route (`runtime.routes`). Tasks and evaluators are registered as
"module:function" and imported only when a run asks for them, so starting a run imports
only its own task. The spec's closed sets of names (`specs.sections`) and these
registries hold the same names: a test checks it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from runtime.core.errors import TaskInputError

TASKS: dict[str, str] = {}  # task name -> "module:function" taking (RunConfig, its task config)
EVALUATORS: dict[str, str] = {}  # evaluator name -> "module:function"
REWARDS: dict[str, str] = {}  # GRPO reward name -> "module:function" (options, gold answers) -> (functions, weights)
NORMALIZERS: dict[str, Callable[[str], str]] = {}
EXTRACTORS: dict[str, Callable[[str, str | None], str]] = {}  # (text, regex) -> answer
PROMPT_STYLES: dict[str, Callable[[str, list[str]], str]] = {}  # (question, worked examples) -> prompt
EXEMPLARS: dict[str, Callable[[dict[str, Any], str, str], str]] = {}  # style -> (row, q field, a field) -> example


def load(target: str) -> Any:
    """The function a "module:function" entry names."""
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def lookup(registry: dict[str, Any], what: str, name: str) -> Any:
    if name not in registry:
        known = ", ".join(sorted(registry))
        raise TaskInputError(f"{what} {name!r} is not registered in this runtime (known: {known}); "
                             "the route package that provides it was not loaded")
    return registry[name]
