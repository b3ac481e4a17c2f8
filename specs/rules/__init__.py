"""Cross-field rules, one module per domain (batch sizes, DeepSpeed, resources, ...).

A rule takes a structurally valid experiment and yields ``(dotted.path, message)`` for
each problem, so that all problems are reported together and each points at the field
to change. Kind-specific rules live with their kind (`ExperimentBase.kind_problems`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from specs.base import ExperimentBase

Finding = tuple[str, str]
Rule = Callable[[ExperimentBase], Iterable[Finding]]

RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    """Register a rule (modules below register on import)."""
    RULES.append(fn)
    return fn


def check(exp: ExperimentBase) -> list[Finding]:
    """Every finding of every rule, the kind's own checks included."""
    from specs.rules import batch, deepspeed, evaluation, resources, sweep  # noqa: F401  (registration)

    found: list[Finding] = []
    for r in RULES:
        found.extend(r(exp))
    found.extend(exp.kind_problems())
    return found


def stage_field(exp: ExperimentBase, stage: str, section: str, field: str) -> str:
    """The path a user should edit: the stage override if it sets the field, else the top."""
    ov = exp.stages.get(stage)
    sub = getattr(ov, section, None) if ov is not None else None
    if isinstance(sub, str) and section == field:  # a plain field such as `launcher`
        return f"stages.{stage}.{section}"
    if sub is not None and not isinstance(sub, str) and field in sub.model_fields_set:
        return f"stages.{stage}.{section}.{field}"
    return section if section == field else f"{section}.{field}"
