"""Property-based fuzzing of spec loading, overrides and compilation.

The property: whatever a user writes (arbitrary text, broken YAML, wrong types,
unknown keys, hostile overrides), loading either validates or raises a `SpecError`
that says what is wrong; it never escapes as another exception (a traceback). A
spec that validates compiles to a Plan or fails with a `LabspecError`.

The inputs that once escaped as another exception are kept below as plain regression
tests (`FORMER_CRASHES` and the scalar/character/union cases).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import compiler
from compiler.plan import Plan
from specs import KINDS, LabspecError, SpecError, load_spec, load_text
from specs.loader import read_document
from specs.overrides import parse_overrides
from tests.conftest import EXAMPLES, MINIMAL

FUZZ = settings(
    deadline=None,
    derandomize=True,  # deterministic: the same examples on every run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)


def fuzz(max_examples: int) -> settings:
    return settings(FUZZ, max_examples=max_examples)


BASE_DIR = "/nonexistent/labspec-fuzz"  # compile is pure: nothing is written there


# --- the checks --------------------------------------------------------------------


def assert_good_spec_error(exc: SpecError) -> None:
    """A SpecError a user can act on: a message, and every problem says something."""
    assert str(exc).strip(), "SpecError with an empty message"
    assert exc.problems, "SpecError without problems"
    for p in exc.problems:
        assert isinstance(p.message, str) and p.message.strip(), f"problem without a message: {p!r}"
        assert isinstance(p.source, str)
        assert p.line is None or (isinstance(p.line, int) and p.line >= 1), p
        assert str(p).strip()


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), or None after a well-formed SpecError."""
    try:
        return fn(*args)
    except SpecError as exc:
        assert_good_spec_error(exc)
    return None


def check_compiles(exp: Any) -> None:
    """A valid experiment compiles to a Plan or fails with a LabspecError, nothing else."""
    try:
        plan = compiler.compile(exp, base_dir=BASE_DIR)
    except LabspecError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} with an empty message"
        if isinstance(exc, SpecError):
            assert_good_spec_error(exc)
        return
    assert isinstance(plan, Plan)
    for run in plan.runs:
        assert isinstance(run.script, str) and run.script.startswith("#!")


def load_and_compile_text(text: str) -> None:
    exp = outcome(load_text, text, "f.yaml")
    if exp is not None:
        check_compiles(exp)


# --- inputs that once escaped as other exceptions ------------------------------------

BLOCK_MINIMAL = """\
name: mini
kind: sft
model:
  name_or_path: some/model
data:
  train: train.jsonl
resources:
  gpus_per_node: 2
  time: "01:00:00"
training:
  global_batch_size: 8
  micro_batch_size: 2
"""

FORMER_CRASHES: dict[str, Callable[[], object]] = {
    "impossible-date": lambda: load_text(MINIMAL + "description: 2024-02-30\n", "f.yaml"),
    "unprintable-character": lambda: load_text(MINIMAL + "description: a\x07b\n", "f.yaml"),
    "deep-nesting": lambda: load_text("description: " + "[" * 2000 + "]" * 2000, "f.yaml"),
    "recursive-alias": lambda: load_text(MINIMAL + "description: &x [*x]\n", "f.yaml"),
    "unhashable-kind": lambda: load_text(MINIMAL.replace("kind: sft", "kind: [sft]"), "f.yaml"),
    "union-field-given-a-mapping": lambda: load_text(BLOCK_MINIMAL.replace('time: "01:00:00"', "time: {}"),
                                                     "f.yaml"),
    "sweep-path-unicode-digit": lambda: load_text(MINIMAL + "sweep: {grid: {'training.\u00b2': [1]}}\n",
                                                  "f.yaml"),
    "nul-in-a-value": lambda: load_text(MINIMAL + 'env: {A: "a\\0b"}\n', "f.yaml"),
}


def test_a_unicode_digit_in_an_override_path_is_a_name_not_an_index() -> None:
    (ov,) = parse_overrides(["training.\u00b2=1"])
    assert ov.path == ("training", "\u00b2")


@pytest.mark.parametrize("name", list(FORMER_CRASHES))
def test_former_crash_is_a_spec_error(name: str) -> None:
    with pytest.raises(SpecError) as exc:
        FORMER_CRASHES[name]()
    assert_good_spec_error(exc.value)


@pytest.mark.parametrize("text", [
    "name: mini\ndescription: 2024-02-30\n",
    "a: 0x_\n",
    "a: 0b_\n",
    "a: !!float abc\n",
    "a: !!int abc\n",
    "a: !!bool foo\n",
    "a: !!timestamp foo\n",
])
def test_bad_yaml_scalars_are_spec_errors(text: str) -> None:
    with pytest.raises(SpecError):
        load_text(text, "f.yaml")


@pytest.mark.parametrize("text", ["\x00", "a: \x07\n", "a: \ufffe\n", MINIMAL + "# \x1b[31m\n"])
def test_unprintable_characters_are_spec_errors(text: str) -> None:
    with pytest.raises(SpecError):
        load_text(text, "f.yaml")


@pytest.mark.parametrize("field", ["time: {}", "time: {a: 1}", "mem: {}", "partition: x\n  mem: {g: 64}"])
def test_union_field_given_a_container_is_a_spec_error(field: str) -> None:
    text = BLOCK_MINIMAL.replace('time: "01:00:00"', field)
    with pytest.raises(SpecError) as exc:
        load_text(text, "f.yaml")
    assert any(p.path.startswith("resources.") for p in exc.value.problems)


def test_alias_bomb_is_a_spec_error() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
    with pytest.raises(SpecError) as exc:
        load_text(bomb, "f.yaml")
    assert "expands to more than" in str(exc.value)


# --- (a) random YAML text ------------------------------------------------------------


def _field_names() -> list[str]:
    """Every field name of every kind, nested sections included (plausible keys to fuzz with)."""
    names: set[str] = set()
    seen: set[type] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, info in annotation.model_fields.items():
                names.add(name)
                walk(info.annotation)
            return
        if get_origin(annotation) is not None or get_args(annotation):
            for arg in get_args(annotation):
                walk(arg)

    for cls in KINDS.values():
        walk(cls)
    return sorted(names)


FIELD_NAMES = _field_names()
TOP_KEYS = sorted(set(KINDS["sft"].model_fields) | {"extends", "sweep", "stages"})

WEIRD_KEYS = ["", " ", "<<", "?", "-", "a b", "1", "0", "-1", "true", "null", "~", "'q'", '"d"', "&a k",
              "*a", "!!str k", "é", "#x", "x.y", "kind", "name", "$(touch PWNED)", "[a]", "{a: 1}"]
WEIRD_VALUES = [
    "", "1", "-1", "0", "1e5", "2e-5", "1.0e-3", ".inf", "-.inf", ".nan", "0x1F", "0o7", "0b101", "1_000",
    "true", "no", "yes", "off", "null", "~", "[]", "{}", "[1, 2", "{a: 1", "[a, {b: c}]", "'x", '"x',
    "'it''s'", '"\\x41\\n"', "|", ">", "|-\n  text", "&a x", "*a", "*missing", "&a", "&a [1, 2]",
    "!!str 1", "!!int 1", "!!float 1.5", "!!binary aGk=", "!!binary @@@", "!!set {a}", "!!omap [a: 1]",
    "!!python/object:os.system x", "!!python/name:os.system", "!custom x", "!<tag:x> y", "<<: *a",
    "- a", "a: b: c", "a: b", "%YAML 1.2", "---", "...", "@x", "`x`", "$(touch PWNED)", "\t", "x\ty",
    "01:00:00", "1-00:00:00", "64G", "1.5B", "sft", "dpo", "spin", "2024-01-01", "12:30", "# comment",
    "? complex", "=", "==", "'''", "\\", "%", "!", "&", "*",
]
INDENTS = ["", " ", "  ", "    ", "\t", " \t", "- ", "  - ", "? ", ": ", "  ? ", "-\t"]
SEPARATORS = [":", ": ", ":  ", " : ", "", ":\t", " "]

keys = st.one_of(st.sampled_from(FIELD_NAMES), st.sampled_from(WEIRD_KEYS), st.text(max_size=6))
raw_values = st.one_of(st.sampled_from(WEIRD_VALUES), st.text(max_size=8))
yaml_lines = st.builds(lambda i, k, s, v: i + k + s + v, st.sampled_from(INDENTS), keys,
                       st.sampled_from(SEPARATORS), raw_values)
yamlish_docs = st.lists(yaml_lines, max_size=25).map("\n".join)


@st.composite
def spec_with_junk_lines(draw: st.DrawFn) -> str:
    """A valid spec (flow or block style) with random lines inserted, replaced or re-indented."""
    lines = draw(st.sampled_from([MINIMAL, BLOCK_MINIMAL])).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "replace", "indent", "tabify", "truncate"]))
        i = draw(st.integers(0, len(lines)))
        if op == "insert" or not lines:
            lines.insert(i, draw(yaml_lines))
            continue
        i = min(i, len(lines) - 1)
        if op == "replace":
            lines[i] = draw(yaml_lines)
        elif op == "indent":
            lines[i] = draw(st.sampled_from(INDENTS)) + lines[i]
        elif op == "tabify":
            lines[i] = lines[i].replace("  ", "\t")
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n", "\r\n"]))


@fuzz(250)
@given(st.text(max_size=300))
def test_arbitrary_text_loads_or_raises_spec_error(text: str) -> None:
    load_and_compile_text(text)


@fuzz(300)
@given(yamlish_docs)
def test_yaml_like_text_loads_or_raises_spec_error(text: str) -> None:
    load_and_compile_text(text)


@fuzz(300)
@given(spec_with_junk_lines())
def test_spec_with_junk_lines_loads_or_raises_spec_error(text: str) -> None:
    load_and_compile_text(text)


@fuzz(60)
@given(line=st.integers(0, len(BLOCK_MINIMAL.splitlines()) - 1),
       value=st.one_of(st.none(), st.sampled_from(["1", "x", "'01:00:00'", "{}", "[]", "null", "&d 3"])))
def test_duplicate_keys_are_reported_at_the_second_key(line: int, value: str | None) -> None:
    lines = BLOCK_MINIMAL.splitlines()
    copy_line = lines[line]
    if value is not None and ":" in copy_line and not copy_line.rstrip().endswith(":"):
        copy_line = copy_line.split(":", 1)[0] + ": " + value
    lines.insert(line + 1, copy_line)
    with pytest.raises(SpecError) as exc:
        load_text("\n".join(lines) + "\n", "f.yaml")
    assert_good_spec_error(exc.value)
    dup = [p for p in exc.value.problems if "duplicate key" in p.message]
    assert dup, str(exc.value)
    assert dup[0].line == line + 2  # 1-based line of the copy
    assert f"first set on line {line + 1}" in dup[0].message


@fuzz(20)
@given(line=st.integers(2, len(BLOCK_MINIMAL.splitlines()) - 1))
def test_tab_indentation_is_a_located_syntax_error(line: int) -> None:
    lines = BLOCK_MINIMAL.splitlines()
    if not lines[line].startswith("  "):
        lines[line] = "  " + lines[line]
    lines[line] = "\t" + lines[line].lstrip(" ")
    with pytest.raises(SpecError) as exc:
        load_text("\n".join(lines) + "\n", "f.yaml")
    assert_good_spec_error(exc.value)
    assert "YAML syntax error" in str(exc.value)
    assert exc.value.problems[0].line == line + 1


def _nested(depth: int, style: str, leaf: str = "1") -> str:
    if style == "flow_list":
        return "[" * depth + leaf + "]" * depth
    if style == "flow_map":
        return "{k: " * depth + leaf + "}" * depth
    if style == "mixed":
        return "".join("[{k: " if i % 2 else "{k: [" for i in range(depth)) + leaf + "".join(
            "}]" if i % 2 else "]}" for i in reversed(range(depth)))
    raise AssertionError(style)


def _nested_block(depth: int, indent: int, leaf: str = "1") -> str:
    return "".join(" " * (indent + 2 * i) + f"k{i}:\n" for i in range(depth)) + " " * (
        indent + 2 * depth) + f"leaf: {leaf}\n"


@fuzz(40)
@given(depth=st.one_of(st.integers(1, 60), st.integers(60, 1200)),
       style=st.sampled_from(["flow_list", "flow_map", "mixed", "block"]),
       where=st.sampled_from(["description", "deepspeed.config", "unknown", "env", "top"]))
def test_deeply_nested_documents_load_or_raise_spec_error(depth: int, style: str, where: str) -> None:
    if style == "block":
        depth = min(depth, 250)  # block text grows with depth squared
        nested = "\n" + _nested_block(depth, 4 if where == "deepspeed.config" else 2)
    else:
        nested = " " + _nested(depth, style) + "\n"
    if where == "top":
        text = _nested(depth, "flow_list") if style != "block" else _nested_block(depth, 0)
    elif where == "deepspeed.config":
        text = MINIMAL + "deepspeed:\n  config:" + nested
    else:
        text = MINIMAL + {"description": "description:", "unknown": "junk:", "env": "env:"}[where] + nested
    load_and_compile_text(text)


@fuzz(25)
@given(width=st.integers(1, 5), levels=st.integers(1, 6), merge=st.booleans())
def test_anchors_aliases_and_merge_keys(width: int, levels: int, merge: bool) -> None:
    text = "x0: &a0 [" + ", ".join(["v"] * width) + "]\n" + "".join(
        f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]\n" for i in range(1, levels))
    text = MINIMAL.replace("resources: {", "resources: &res {") + text
    if merge:
        text += "stages:\n  sft:\n    resources: {<<: *res, nodes: 1}\n"
    load_and_compile_text(text)


# --- (b) random Python objects, mutations of valid specs ----------------------------


def _bases() -> list[dict[str, Any]]:
    out = [yaml.safe_load(MINIMAL),
           yaml.safe_load(MINIMAL + "evaluation: {data: test.jsonl}\npeft: {enabled: true}\n"
                          "sweep: {grid: {training.lr: [1.0e-5, 2.0e-5]}, seeds: [0, 1]}\n"),
           yaml.safe_load(MINIMAL.replace("kind: sft", "kind: dpo") + "dpo: {beta: 0.2}\n"),
           yaml.safe_load("name: ev\nkind: evaluate\nmodel: {name_or_path: some/model}\n"
                          "data: {test: test.jsonl}\nresources: {gpus_per_node: 1, time: 10}\nlauncher: python\n"),
           ]
    for path in sorted(EXAMPLES.glob("*-tiny.yaml")):
        try:
            out.append(read_document(path).data)
        except SpecError:  # an example being edited: not this file's business
            continue
    return out


BASES = _bases()

PLAUSIBLE = [0, 1, 2, 3, 8, 16, -1, 0.5, 1e-5, 2.0, True, False, None, "", "x", "sft", "dpo", "evaluate",
             "01:00:00", 30, "64G", "1B", "cpu", "nvme", "all-linear", "python", "torchrun", "deepspeed",
             "bf16", "fp32", "cosine", [], {}, ["x"], {"a": 1}, "train.jsonl", "some/model"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                    st.sampled_from(PLAUSIBLE))
junk = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6), st.integers(-2, 2),
                              st.booleans()), children, max_size=4)), max_leaves=12)
SWEEPABLE = ["training.lr", "training.global_batch_size", "training.micro_batch_size", "seed",
             "resources.nodes", "resources.gpus_per_node", "resources.procs_per_node", "resources.time",
             "deepspeed.zero_stage", "deepspeed.enabled", "peft.enabled", "peft.r", "model.name_or_path",
             "model.num_parameters", "launcher", "data.train", "training.precision", "env.FOO",
             "deepspeed.offload_optimizer.device", "python", "output_root", "description", "name", "kind",
             "sweep.seeds", "stages", "training", "model", "nope.nope", "training.lrr", "0", ""]
STAGES = ["sft", "evaluate", "dpo", "train", "generate", "pairs", "prepare", "mine", "distill", "sample",
          "aggregate", "mllm", "nope"]


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict and list in `node`, the root included."""
    out = [path] if isinstance(node, (dict, list)) else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.extend(_containers(value, (*path, key)))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _as_dict(parent: dict[str, Any], key: str) -> dict[str, Any]:
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    child: dict[str, Any] = parent[key]
    return child


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "retype", "unknown", "nest", "known", "sweep", "stage", "kind"]))
        if not isinstance(data, dict):
            break
        if op == "sweep":
            grid = _as_dict(_as_dict(data, "sweep"), draw(st.sampled_from(["grid", "grid", "zip"])))
            grid[draw(st.one_of(st.sampled_from(SWEEPABLE), st.text(max_size=8)))] = copy.deepcopy(draw(
                st.one_of(st.lists(scalars, max_size=3), junk)))
            continue
        if op == "stage":
            stage = _as_dict(_as_dict(data, "stages"), draw(st.sampled_from(STAGES)))
            section = draw(st.sampled_from(["resources", "training", "deepspeed", "launcher", "env", "x"]))
            stage[section] = copy.deepcopy(draw(st.one_of(junk, st.sampled_from(PLAUSIBLE))))
            continue
        if op == "kind":
            data["kind"] = draw(st.one_of(st.sampled_from(sorted(KINDS)), junk))
            continue
        container_path = draw(st.sampled_from(_containers(data)))
        container = _at(data, container_path)
        if op in ("unknown", "known") and isinstance(container, dict):
            key = draw(st.sampled_from(FIELD_NAMES) if op == "known" else st.one_of(
                st.text(max_size=8), st.sampled_from(WEIRD_KEYS), st.integers(), st.none(), st.booleans()))
            container[key] = copy.deepcopy(draw(st.one_of(st.sampled_from(PLAUSIBLE), junk)))
            continue
        if not container:
            continue
        key = draw(st.sampled_from(list(container) if isinstance(container, dict) else range(len(container))))
        if op == "drop":
            del container[key]
        elif op == "nest":
            container[key] = draw(st.sampled_from([
                {"k": container[key]}, [container[key]], {"x": {"y": container[key]}}, [[container[key], 1]]]))
        else:
            container[key] = draw(junk)
    return data


random_documents = st.one_of(
    junk,
    st.dictionaries(st.one_of(st.sampled_from(TOP_KEYS), st.text(max_size=6), st.integers(), st.none(),
                              st.floats(), st.booleans()), junk, max_size=8),
    st.builds(lambda d, kind: {**d, "kind": kind}, st.dictionaries(st.sampled_from(TOP_KEYS), junk, max_size=8),
              st.sampled_from(sorted(KINDS))),
)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@fuzz(350)
@given(mutated_specs())
def test_mutated_specs_validate_or_raise_spec_error_and_compile(data: Any) -> None:
    load_and_compile_text(_dump(data))


@fuzz(200)
@given(random_documents)
def test_random_documents_validate_or_raise_spec_error(data: Any) -> None:
    load_and_compile_text(_dump(data))


TYPED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "training.lr": st.floats(1e-7, 1e-2),
    "training.global_batch_size": st.sampled_from([1, 2, 3, 4, 8, 16, 32, 48]),
    "training.micro_batch_size": st.sampled_from([1, 2, 4]),
    "training.precision": st.sampled_from(["bf16", "fp16", "fp32"]),
    "training.warmup_steps": st.integers(0, 10),
    "training.optimizer": st.sampled_from(["adamw", "sgd", "lion", "adafactor"]),
    "resources.nodes": st.integers(1, 3),
    "resources.gpus_per_node": st.integers(0, 8),
    "resources.procs_per_node": st.one_of(st.none(), st.integers(1, 4)),
    "resources.gpu_mem_gb": st.one_of(st.none(), st.sampled_from([0.5, 16, 80])),
    "resources.mem": st.sampled_from(["64G", "512M", 1024, "1T"]),
    "resources.time": st.sampled_from(["01:00:00", "2-00:00:00", 30, "10"]),
    "deepspeed.zero_stage": st.sampled_from([0, 1, 2, 3]),
    "deepspeed.enabled": st.booleans(),
    "deepspeed.offload_optimizer.device": st.sampled_from(["none", "cpu", "nvme"]),
    "deepspeed.offload_param.device": st.sampled_from(["none", "cpu"]),
    "deepspeed.config.zero_optimization.overlap_comm": st.booleans(),
    "peft.enabled": st.booleans(),
    "peft.r": st.integers(1, 64),
    "launcher": st.sampled_from(["torchrun", "deepspeed", "python"]),
    "seed": st.integers(0, 2**40),
    "description": st.text(max_size=20),
    "env.FOO": st.text(max_size=10),
    "python": st.text(min_size=1, max_size=10),
    "output_root": st.text(min_size=1, max_size=10),
    "model.num_parameters": st.sampled_from(["1B", "350M", 10**6, "70B"]),
    "model.name_or_path": st.text(min_size=1, max_size=10),
    "data.train": st.one_of(st.none(), st.text(min_size=1, max_size=10)),
}


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = _as_dict(node, part)
    node[parts[-1]] = value


@st.composite
def gently_mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Type-correct changes: mostly valid specs, so compile() gets exercised."""
    data: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    stage_types = list(KINDS[data["kind"]].stage_types)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(sorted(TYPED_VALUES)))
        where = draw(st.sampled_from(["set", "set", "sweep", "stage"]))
        if where == "sweep" and path not in ("seed",):
            _set(data, "sweep.grid", {**(data.get("sweep", {}).get("grid") or {}),
                                      path: draw(st.lists(TYPED_VALUES[path], min_size=1, max_size=3))})
        elif where == "stage" and path.split(".")[0] in ("resources", "training", "deepspeed"):
            _set(data, f"stages.{draw(st.sampled_from(stage_types))}.{path}", draw(TYPED_VALUES[path]))
        else:
            _set(data, path, draw(TYPED_VALUES[path]))
    return data


@fuzz(200)
@given(gently_mutated_specs())
def test_gently_mutated_specs_validate_or_raise_spec_error_and_compile(data: dict[str, Any]) -> None:
    load_and_compile_text(_dump(data))


def test_the_bases_are_valid_and_compile() -> None:
    """The mutations start from valid specs (else the fuzzing would only test error paths)."""
    for data in BASES[:4]:
        exp = load_text(_dump(data), "f.yaml")
        plan = compiler.compile(exp, base_dir=BASE_DIR)
        assert plan.runs


# --- (c) random overrides ------------------------------------------------------------

SEGMENTS = st.one_of(
    st.sampled_from([*FIELD_NAMES, "sweep", "grid", "zip", "seeds", "0", "1", "2", "10", "-1", "", " ",
                     "\u00b2", "\u0663", "x", "FOO", "sft", "evaluate"]),
    st.text(max_size=4))
override_keys = st.lists(SEGMENTS, max_size=5).map(".".join)
override_values = st.one_of(st.sampled_from(WEIRD_VALUES), st.sampled_from(
    ["[1e-5, 2e-5]", "{a: 1}", "[]", "{}", "2", "-3", "x", "true", "null", "python", "'01:00:00'", "[1, [2]]",
     "{train: x.jsonl}", "[[]]", "- a", "a: b"]), st.text(max_size=12))
override_texts = st.one_of(
    st.builds(lambda k, s, v: k + s + v, override_keys, st.sampled_from(["=", "=", " = ", "==", ""]),
              override_values),
    st.text(max_size=20),
)
VALID_OVERRIDES = ["training.lr=2e-5", "sweep.grid.training.lr=[1e-5,2e-5]", "seed=3", "peft.enabled=true",
                   "resources.nodes=1", "description=x", "env.FOO=bar", "sweep.seeds=[0, 1]"]


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


@fuzz(300)
@given(st.lists(st.one_of(override_texts, st.sampled_from(VALID_OVERRIDES)), max_size=4))
def test_random_overrides_parse_or_raise_spec_error(spec_path: Path, overrides: list[str]) -> None:
    outcome(parse_overrides, overrides)
    loaded = outcome(load_spec, spec_path, overrides)
    if loaded is not None:
        assert loaded.overrides == tuple(overrides)
        check_compiles(loaded)


def test_valid_overrides_apply(spec_path: Path) -> None:
    loaded = load_spec(spec_path, VALID_OVERRIDES)
    exp = loaded.experiment
    assert exp.training.lr == 2e-5 and exp.seed == 3 and exp.peft.enabled and exp.env == {"FOO": "bar"}
    assert len(compiler.compile(loaded, base_dir=BASE_DIR).runs) == 4
