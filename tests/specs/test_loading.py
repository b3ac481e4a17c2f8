"""Loading specs: YAML and Python, extends, overrides, and errors located at FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest

from specs import SpecError, load_spec, load_text
from tests.conftest import MINIMAL


def problems(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_minimal_spec_loads_with_defaults(write_spec):
    loaded = load_spec(write_spec(MINIMAL))
    exp = loaded.experiment
    assert exp.kind == "sft" and exp.name == "mini"
    assert exp.training.lr == 1e-5 and exp.deepspeed.zero_stage == 2
    assert exp.resources.world_size == 2
    assert len(loaded.content_sha256) == 64


def test_yaml12_floats_without_a_dot():
    exp = load_text(MINIMAL + "seed: 3\n" + "description: x\n").model_copy()
    assert exp.seed == 3
    exp = load_text(MINIMAL.replace("training: {", "training: {lr: 2e-5, "))
    assert exp.training.lr == pytest.approx(2e-5)
    assert isinstance(exp.training.lr, float)


def test_every_problem_reported_with_line_and_suggestion(write_spec):
    path = write_spec("""\
        name: Bad Name
        kind: sft
        model: {name_or_path: m}
        training:
          lrr: 1
          micro_batch_size: 0
        resources: {time: "25:99:00"}
        """)
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    shown = problems(exc)
    assert any(p.startswith(f"{path}:1: name:") for p in shown), shown
    assert any(p.startswith(f"{path}:5: training.lrr:") and "did you mean 'lr'" in p for p in shown), shown
    assert any(p.startswith(f"{path}:6: training.micro_batch_size:") for p in shown), shown
    assert any(p.startswith(f"{path}:7: resources.time:") and "HH:MM:SS" in p for p in shown), shown
    assert len(shown) == 4


def test_unknown_kind_suggests_the_closest():
    with pytest.raises(SpecError) as exc:
        load_text("name: a\nkind: formula-dpo\nmodel: {name_or_path: m}\n", "f.yaml")
    assert "f.yaml:2: kind: unknown kind 'formula-dpo'" in str(exc.value)
    assert "did you mean 'formula_dpo'" in str(exc.value)


def test_missing_kind_and_non_mapping_documents():
    with pytest.raises(SpecError, match="every spec names its kind"):
        load_text("name: a\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_text("- a\n- b\n")
    with pytest.raises(SpecError, match="it is empty"):
        load_text("")


def test_duplicate_keys_are_errors_with_both_lines():
    with pytest.raises(SpecError) as exc:
        load_text(MINIMAL + "seed: 1\nseed: 2\n", "d.yaml")
    (p,) = exc.value.problems
    assert p.line == 8 and p.path == "seed" and "first set on line 7" in p.message


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(SpecError) as exc:
        load_text("name: a\nkind: [sft\nmodel: x\n", "s.yaml")
    (p,) = exc.value.problems
    assert p.line is not None and "YAML syntax error" in p.message


def test_alias_bomb_is_refused():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]\n"
    with pytest.raises(SpecError, match="alias loop or bomb"):
        load_text(bomb)


def test_unsafe_yaml_tags_are_not_constructed():
    with pytest.raises(SpecError):
        load_text('name: !!python/object/apply:os.system ["touch /tmp/labspec-pwned"]\nkind: sft\n')
    assert not Path("/tmp/labspec-pwned").exists()


def test_extends_deep_merges_and_reports_lines_in_the_right_file(write_spec):
    base = write_spec(MINIMAL + "training: {lr: 0.1, global_batch_size: 8, micro_batch_size: 2}\n"
                      .replace("training", "peft"), "base/base.yaml")
    # base has a bad peft section (lr is not a peft field): reported in base.yaml
    child = write_spec("extends: base/base.yaml\nname: child\ntraining: {lr: 3.0e-4}\n", "child.yaml")
    with pytest.raises(SpecError) as exc:
        load_spec(child)
    assert any(str(base) in p and "peft.lr" in p for p in problems(exc))

    base.write_text(MINIMAL, encoding="utf-8")
    loaded = load_spec(child)
    exp = loaded.experiment
    assert exp.name == "child" and exp.training.lr == 3e-4
    assert exp.training.global_batch_size == 8  # merged from the base
    assert loaded.document.sources == [str(child), str(base)]


def test_extends_null_removes_a_base_key(write_spec):
    write_spec(MINIMAL + "description: base\n", "base.yaml")
    child = write_spec("extends: base.yaml\ndescription: null\nresources: {time: null, gpus_per_node: 1}\n"
                       "stages: {sft: {resources: {time: '2:00:00'}}, evaluate: {resources: {time: 10}}}\n",
                       "child.yaml")
    exp = load_spec(child).experiment
    assert exp.description == "" and exp.resources.time is None
    assert exp.stage_resources("sft").minutes == 120


def test_extends_cycles_and_missing_bases(write_spec):
    write_spec("extends: b.yaml\n", "a.yaml")
    b = write_spec("extends: a.yaml\n", "b.yaml")
    with pytest.raises(SpecError, match="extends cycle"):
        load_spec(b)
    c = write_spec("extends: nowhere.yaml\nname: c\n", "c.yaml")
    with pytest.raises(SpecError, match="not found"):
        load_spec(c)


def test_python_spec_defines_experiment(write_spec):
    write_spec(MINIMAL, "base.yaml")
    path = write_spec("""\
        lrs = [1e-5 * k for k in (1, 2)]
        experiment = {"extends": "base.yaml", "name": "py-spec", "sweep": {"grid": {"training.lr": lrs}}}
        """, "spec.py")
    exp = load_spec(path).experiment
    assert exp.name == "py-spec" and exp.sweep.grid["training.lr"] == [1e-5, 2e-5]


def test_python_spec_may_build_the_model_itself(write_spec):
    path = write_spec("""\
        from specs.kinds.sft import SFTExperiment
        experiment = SFTExperiment(name="typed", kind="sft", model={"name_or_path": "m"},
                                   resources={"time": 30})
        """, "typed.py")
    assert load_spec(path).experiment.name == "typed"


def test_python_spec_errors_point_at_the_users_line(write_spec):
    path = write_spec("x = 1\ny = 1 / 0\n", "boom.py")
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    (p,) = exc.value.problems
    assert p.line == 2 and "ZeroDivisionError" in p.message
    no_exp = write_spec("x = 1\n", "none.py")
    with pytest.raises(SpecError, match="must define `experiment`"):
        load_spec(no_exp)


def test_python_spec_values_are_attributed_to_the_python_file(write_spec):
    write_spec(MINIMAL, "base.yaml")
    path = write_spec('experiment = {"extends": "base.yaml", "name": "Not A Slug"}\n', "p.py")
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    (p,) = exc.value.problems
    assert p.source == str(path) and p.path == "name"


def test_overrides_are_yaml_values(write_spec):
    path = write_spec(MINIMAL)
    exp = load_spec(path, ["training.lr=2e-5", "peft.enabled=true", "peft.target_modules=[q_proj,v_proj]",
                           "sweep.grid.training.lr=[1e-5,2e-5]", "env.FOO=a=b"]).experiment
    assert exp.training.lr == 2e-5 and exp.peft.enabled is True
    assert exp.peft.target_modules == ["q_proj", "v_proj"]
    assert exp.sweep.grid == {"training.lr": [1e-5, 2e-5]}
    assert exp.env == {"FOO": "a=b"}


def test_bad_overrides_name_the_override(write_spec):
    path = write_spec(MINIMAL)
    with pytest.raises(SpecError) as exc:
        load_spec(path, ["training.lrr=1", "novalue"])
    shown = str(exc.value)
    assert "override -o novalue" in shown
    with pytest.raises(SpecError) as exc:
        load_spec(path, ["training.lrr=1"])
    (p,) = exc.value.problems
    assert p.source == "override -o training.lrr=1" and "did you mean 'lr'" in p.message


def test_union_noise_is_dropped_for_mappings():
    text = """\
        name: l
        kind: size_ladder
        resources: {time: 60}
        ladder:
          models: [{name: a, name_or_path: x, size: 0.5B}]
          suites: [{name: s, ability: math, tasks: [gsm8k, {name: loc, path: p, metricc: 1}]}]
        """
    import textwrap

    with pytest.raises(SpecError) as exc:
        load_text(textwrap.dedent(text), "l.yaml")
    (p,) = exc.value.problems
    assert p.path == "ladder.suites.0.tasks.1.metricc" and p.line == 6


@pytest.mark.parametrize("override, field", [
    ("training.lr=.inf", "training.lr"),
    ("model.num_parameters=1e400", "model.num_parameters"),
    ("deepspeed.config.when=2024-01-01", "deepspeed.config.when"),
    ("resources.mem=1K", None),
])
def test_values_that_cannot_be_used_are_spec_errors(write_spec, override, field):
    path = write_spec(MINIMAL)
    if field is None:  # 1K is a valid (tiny) amount: rounded up, never 0 (= the whole node)
        from compiler import compile

        assert compile(load_spec(path, [override])).runs[0].resources["mem_mb"] == 1
        return
    with pytest.raises(SpecError) as exc:
        load_spec(path, [override])
    assert any(p.path.startswith(field) for p in exc.value.problems), str(exc.value)


def test_extends_cannot_be_overridden(write_spec):
    with pytest.raises(SpecError, match="extends cannot be overridden"):
        load_spec(write_spec(MINIMAL), ["extends=other.yaml"])


def test_a_python_spec_calling_exit_is_an_error(write_spec):
    with pytest.raises(SpecError, match=r"sys\.exit"):
        load_spec(write_spec("import sys\nsys.exit(0)\n", "exit.py"))
