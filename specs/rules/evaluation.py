"""Evaluations: each has a held-out file, and asks only for metrics its evaluator computes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from specs.base import ExperimentBase
from specs.rules import Finding, rule
from specs.sections import EVALUATOR_METRICS, EvaluationSettings


def _at(exp: ExperimentBase, dotted: str) -> Any:
    node: Any = exp
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return node


@rule
def evaluations_have_data_and_known_metrics(exp: ExperimentBase) -> Iterator[Finding]:
    for dotted, route_evaluator in exp.evaluations.items():
        settings = _at(exp, dotted)
        if not isinstance(settings, EvaluationSettings):
            continue
        if route_evaluator is None and settings.data is None and exp.data.test is None:
            yield f"{dotted}.data", "no held-out file: set data.test, or this evaluation's data"
        evaluator = settings.evaluator or route_evaluator or "default"
        if route_evaluator is not None and settings.evaluator not in (None, route_evaluator):
            yield f"{dotted}.evaluator", f"this route evaluates with its own {route_evaluator!r} evaluator; drop it"
        known = EVALUATOR_METRICS[evaluator]
        for i, metric in enumerate(settings.metrics):
            if metric not in known:
                yield (f"{dotted}.metrics.{i}",
                       f"the {evaluator!r} evaluator does not compute {metric!r}; it computes {', '.join(known)}")
