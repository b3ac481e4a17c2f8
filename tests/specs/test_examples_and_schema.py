"""Example specs: every one validates and compiles; the JSON Schema is current and agrees."""

from __future__ import annotations

import json

import pytest

from compiler import compile
from specs import load_spec
from specs.schema import render
from specs.yaml_lines import load_yaml
from tests.conftest import EXAMPLES

ROUTES = ("formula_dpo", "spin", "radio", "size_ladder", "reasoning")
SCHEMA_DIR = EXAMPLES.parent / "schema"


@pytest.mark.parametrize("route", ROUTES)
def test_each_route_has_a_full_and_a_tiny_example(route):
    full = load_spec(EXAMPLES / f"{route}.yaml")
    tiny = load_spec(EXAMPLES / f"{route}-tiny.yaml")
    assert full.experiment.kind == tiny.experiment.kind == route
    assert tiny.document.sources[-1] == str(EXAMPLES / f"{route}.yaml")  # built with extends
    full_plan, tiny_plan = compile(full), compile(tiny)
    assert full_plan.runs and tiny_plan.runs
    # tiny variants fit 2 CPU cores: no GPUs, at most two processes
    for run in tiny_plan.runs:
        assert run.resources["gpus_per_node"] == 0 and run.resources["world_size"] <= 2, run.name
    assert any(r.resources["gpus_per_node"] > 0 for r in full_plan.runs)


def test_full_examples_use_realistic_recipes():
    spin = load_spec(EXAMPLES / "spin.yaml").experiment
    assert spin.model.name_or_path == "Qwen/Qwen2.5-0.5B-Instruct"
    assert spin.spin.iterations == 4 and spin.spin.beta == 0.1 and spin.training.lr == 5e-7
    assert spin.deepspeed.zero_stage == 3 and spin.resources.gpus_per_node == 8
    radio = load_spec(EXAMPLES / "radio.yaml").experiment
    assert {t.family for t in radio.radio.teachers} == {"clip", "dinov2", "sam"}
    ladder = load_spec(EXAMPLES / "size_ladder.yaml").experiment
    sizes = [m.size for m in ladder.ladder.models]
    assert sizes == sorted(sizes) and sizes[0] == 500_000_000 and sizes[-1] > 70e9


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_declare_the_schema_and_satisfy_it(path):
    jsonschema = pytest.importorskip("jsonschema")
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema_path = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert schema_path.is_file()
    data, _ = load_yaml(path.read_text(), str(path))  # YAML 1.2 numbers, as editors read them
    schema = json.loads(schema_path.read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(_coerce_keys(data)))
    assert error is None, f"{error.json_path}: {error.message}"
    assert ("partial" in schema_path.name) == ("extends" in data)


def _coerce_keys(obj):  # JSON has string keys only (per_iteration: {2: ...})
    if isinstance(obj, dict):
        return {str(k): _coerce_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_coerce_keys(v) for v in obj]
    return obj


def test_schema_files_are_up_to_date():
    for partial, name in ((False, "labspec.schema.json"), (True, "labspec.partial.schema.json")):
        assert (SCHEMA_DIR / name).read_text() == render(partial), (
            f"regenerate with: labspec schema {'--partial ' if partial else ''}> specs/schema/{name}")


def test_schema_rejects_what_validation_rejects():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMA_DIR / "labspec.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "a", "kind": "spin", "model": {"name_or_path": "m"}, "bogus": 1}, schema)
