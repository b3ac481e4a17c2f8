"""The compiler -> runtime contract holds (issue 13).

- Every compiled example's run.json validates against the runtime's models, and its task,
  evaluator, normaliser, extractor, prompt style and report section exist in the registries
  the runtime and the report use (which must agree with the spec's closed sets of names).
- Golden run.json files for every example x stage (tests/golden/<example>.json): a compiler
  change shows as a reviewable diff. Regenerate them with LABSPEC_UPDATE_GOLDEN=1.
- Generic runtime code never imports a route package (core <- tasks <- routes).
"""

from __future__ import annotations

import ast
import json
import os
import typing
from pathlib import Path
from typing import Any

import pytest

from compiler import compile
from compiler.plan import Plan
from specs import load_spec
from specs.sections import AnswerExtractor, EvaluatorName, Normalizer, PromptStyle, RewardName
from specs.tasks import TASK_CONFIGS, RunConfig
from specs.tasks.generic import EvaluateTask, GenerateTask
from tests.conftest import EXAMPLES, REPO

GOLDEN = REPO / "tests" / "golden"
EXAMPLE_SPECS = sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.py")])
BASE_DIR, PYTHON = "/labspec", "/usr/bin/python3"


def compiled(spec: Path) -> Plan:
    return compile(load_spec(spec), base_dir=BASE_DIR, python=PYTHON)


def test_registries_agree_with_the_specs_closed_sets():
    from runtime import routes  # noqa: F401  (every route registers)
    from runtime.core import registry

    assert set(registry.TASKS) == set(TASK_CONFIGS)
    assert set(registry.EVALUATORS) == set(typing.get_args(EvaluatorName))
    assert set(registry.NORMALIZERS) == set(typing.get_args(Normalizer))
    assert set(registry.EXTRACTORS) == set(typing.get_args(AnswerExtractor))
    assert set(registry.PROMPT_STYLES) == set(typing.get_args(PromptStyle))
    assert set(registry.REWARDS) == set(typing.get_args(RewardName))
    for target in [*registry.TASKS.values(), *registry.EVALUATORS.values(), *registry.REWARDS.values()]:
        assert callable(registry.load(target)), target


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_every_compiled_run_is_a_valid_run_the_runtime_and_report_know(spec):
    from launch.reports import SECTIONS
    from runtime import routes  # noqa: F401
    from runtime.core import registry

    plan = compiled(spec)
    for run in plan.runs:
        config = RunConfig.model_validate(run.config)  # what the runtime does first
        assert config.task in registry.TASKS
        tc = config.task_config
        if isinstance(tc, EvaluateTask):
            assert tc.evaluator in registry.EVALUATORS
            assert tc.evaluation.normalizer in registry.NORMALIZERS
        if isinstance(tc, GenerateTask):
            assert tc.prompt_style in registry.PROMPT_STYLES
        assert config.coordinates.role
        assert set(run.config["outputs"]) == set(TASK_CONFIGS[run.task].all_outputs())
    if plan.kind not in ("sft", "dpo", "evaluate", "smoke"):
        assert plan.kind in SECTIONS


def golden_runs(plan: Plan) -> dict[str, Any]:
    return {run.name: run.config for run in plan.runs}


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_run_json_matches_its_golden_file(spec):
    path = GOLDEN / f"{spec.stem}.json"
    current = golden_runs(compiled(spec))
    if os.environ.get("LABSPEC_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    assert sorted(current) == sorted(expected), f"the runs of {spec.name} changed (LABSPEC_UPDATE_GOLDEN=1)"
    for name in current:
        assert current[name] == expected[name], (
            f"{spec.name}: run {name}'s run.json changed; review `git diff tests/golden` after "
            "LABSPEC_UPDATE_GOLDEN=1 pytest tests/compiler/test_contract.py")


LAYERS = {"runtime.core": 0, "runtime.tasks": 1}
ROUTES = ("formula_dpo", "spin", "radio", "size_ladder", "reasoning")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_generic_runtime_code_never_imports_a_route():
    """core <- tasks <- routes: core imports neither tasks nor routes, tasks import no route."""
    for layer, forbidden in (("core", ("runtime.tasks", *(f"runtime.{r}" for r in ROUTES))),
                             ("tasks", tuple(f"runtime.{r}" for r in ROUTES))):
        for path in (REPO / "runtime" / layer).rglob("*.py"):
            bad = {m for m in imported_modules(path) if m.startswith(forbidden) or m == "runtime.routes"}
            assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"
    for route in ROUTES:  # routes stay apart from each other too
        others = tuple(f"runtime.{r}" for r in ROUTES if r != route)
        for path in (REPO / "runtime" / route).rglob("*.py"):
            bad = {m for m in imported_modules(path) if m.startswith(others)}
            assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_every_kind_has_one_name_in_every_layer():
    from compiler.kinds import KIND_COMPILERS
    from launch.reports import SECTIONS
    from specs.registry import KINDS

    assert set(KINDS) == set(KIND_COMPILERS)
    for kind in ROUTES:
        assert kind in KINDS and kind in SECTIONS
        for layer in (REPO / "specs" / "kinds", REPO / "specs" / "tasks", REPO / "compiler" / "kinds",
                      REPO / "launch" / "reports"):
            assert (layer / f"{kind}.py").is_file(), f"{layer.relative_to(REPO)}/{kind}.py"
        assert (REPO / "runtime" / kind / "__init__.py").is_file()
