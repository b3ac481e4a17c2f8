"""Hostile and absurd specs (issue 18): code reached through another file, giant grids,
absurd numbers, structures no spec has, options smuggled into git. Each case must end
in a clear message and a non-zero exit, with nothing run, written or lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from specs import SpecError, load_spec
from tests.conftest import MINIMAL, REPO

PWN = 'import pathlib\npathlib.Path({marker!r}).write_text("ran")\nexperiment = {{"name": "e", "kind": "smoke", ' \
      '"resources": {{"time": 5}}}}\n'


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=lab@example.org", "-c", "user.name=lab", *args],
                          capture_output=True, text=True, check=True).stdout


# --- H1: a Python file runs only when named on the command line ------------------------


@pytest.mark.parametrize("base", ["base.py", "base.PY", "base", "base.yaml.py"])
def test_yaml_extends_never_runs_a_python_file(cli, tmp_path, base):
    marker = tmp_path / "PWNED"
    (tmp_path / base).write_text(PWN.format(marker=str(marker)))
    spec = tmp_path / "innocent.yaml"
    spec.write_text(f"extends: {base}\nname: innocent\nkind: smoke\n")
    code, _, err = cli("validate", spec)
    assert code == 1 and "Traceback" not in err
    assert "not a YAML spec" in err and "extends" in err
    assert not marker.exists()


def test_extends_through_a_chain_or_from_a_python_spec_never_runs_the_base(cli, tmp_path):
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.py").write_text(PWN.format(marker=str(marker)))
    (tmp_path / "middle.yaml").write_text("extends: evil.py\nname: m\n")
    (tmp_path / "top.yaml").write_text("extends: middle.yaml\nname: top\nkind: smoke\n")
    code, _, err = cli("validate", tmp_path / "top.yaml")
    assert code == 1 and "not a YAML spec" in err and not marker.exists()
    # a Python spec the user named runs; the base it names through `extends` does not
    (tmp_path / "named.py").write_text('experiment = {"extends": "evil.py", "name": "n", "kind": "smoke"}\n')
    code, _, err = cli("validate", tmp_path / "named.py")
    assert code == 1 and "not a YAML spec" in err and not marker.exists()


@pytest.mark.slow
def test_launch_changed_and_the_hook_never_run_a_python_base(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    marker = tmp_path / "PWNED"
    (repo / "base.py").write_text(PWN.format(marker=str(marker)))
    (repo / "innocent.yaml").write_text("extends: base.py\nname: innocent\nkind: smoke\n")
    labspec = str(Path(sys.executable).with_name("labspec"))
    subprocess.run([labspec, "hooks", "install", "--repo", str(repo), "--executor", "local"], check=True,
                   capture_output=True)
    git(repo, "add", ".")
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm",
                           "hostile"], capture_output=True, text=True, check=True,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert "not a YAML spec" in done.stderr and not marker.exists()
    done = subprocess.run([labspec, "launch", "--changed", "HEAD", "--executor", "local", "--yes"], cwd=repo,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "not a YAML spec" in done.stderr and not marker.exists()
    assert "Traceback" not in done.stderr


# --- L1, L2: whatever a Python spec does, a message, not a traceback ----------------------


def test_python_spec_nested_too_deep_or_containing_itself(cli, tmp_path):
    deep = tmp_path / "deep.py"
    deep.write_text("x = {}\ne = x\nfor _ in range(100_000):\n    e['a'] = {}\n    e = e['a']\n"
                    "experiment = {'name': 'd', 'kind': 'smoke', 'resources': {'time': 5}, 'env': x}\n")
    code, _, err = cli("validate", deep)
    assert code == 1 and "nested more than" in err and "Traceback" not in err
    loop = tmp_path / "loop.py"
    loop.write_text("experiment = {'name': 'l', 'kind': 'smoke'}\nexperiment['self'] = experiment\n")
    code, _, err = cli("validate", loop)
    assert code == 1 and "contains itself" in err and "Traceback" not in err


def test_python_spec_raising_any_exception_class(cli, tmp_path):
    spec = tmp_path / "raises.py"
    spec.write_text("class Odd(BaseException):\n    pass\n\nraise Odd('from the spec')\n")
    code, _, err = cli("validate", spec)
    assert code == 1 and "Odd: from the spec" in err and f"{spec}:4" in err and "Traceback" not in err


# --- M1: giant grids are refused at once, with the count -------------------------------


@pytest.mark.parametrize(("lists", "values", "count"), [(2, 1000, "1,000,000"), (4, 100, "100,000,000")])
def test_giant_grids_are_refused_with_their_size(cli, write_spec, lists, values, count):
    grid = "\n".join(f"    {k}: [{', '.join(str(v + 1) for v in range(values))}]"
                     for k in ("training.max_steps", "training.logging_steps", "training.warmup_steps",
                               "seed")[:lists])
    spec = write_spec(MINIMAL + f"sweep:\n  grid:\n{grid}\n")
    code, _, err = cli("validate", spec)
    assert code == 1 and f"{count} grid points" in err and "sweep.max_points (10,000)" in err
    assert "Traceback" not in err


def test_the_grid_cap_is_configurable_within_bounds(write_spec):
    grid = "    training.max_steps: [" + ", ".join(str(v + 1) for v in range(20)) + "]\n"
    spec = write_spec(MINIMAL + f"sweep:\n  max_points: 10\n  grid:\n{grid}")
    with pytest.raises(SpecError, match="20 grid points"):
        load_spec(spec)
    load_spec(write_spec(MINIMAL + f"sweep:\n  max_points: 20\n  grid:\n{grid}"))
    with pytest.raises(SpecError, match="less than or equal to 1000000"):
        load_spec(write_spec(MINIMAL + "sweep: {max_points: 10000000}\n"))


# --- L3: absurd values have bounds ------------------------------------------------------


@pytest.mark.parametrize(("override", "field"), [
    ("resources.time=99999999999999999999", "resources.time"),
    ("resources.time=400-00:00:00", "resources.time"),
    ("resources.nodes=1e25", "resources.nodes"),
    ("seed=1e29", "seed"),
    ("seed=4294967296", "seed"),
    ("training.micro_batch_size=1e23", "training.micro_batch_size"),
    ("sweep.seeds=[0,99999999999]", "sweep.seeds.1"),
    ("training.max_steps=1e12", "training.max_steps"),
    ("resources.gpus_per_node=1000", "resources.gpus_per_node"),
])
def test_absurd_values_are_refused_at_their_field(cli, write_spec, override, field):
    code, _, err = cli("validate", write_spec(MINIMAL), "-o", override)
    assert code == 1 and f" {field}: " in err and "Traceback" not in err


def test_any_integer_past_2_to_the_53_is_refused(write_spec):
    with pytest.raises(SpecError, match="too large"):
        load_spec(write_spec(MINIMAL + "evaluation: {max_samples: 99999999999999999999}\n"))


# --- L5: --changed never passes an option to git -----------------------------------------


def test_changed_refuses_a_revision_that_is_an_option(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a")
    target = tmp_path / "WRITTEN"
    done = subprocess.run([sys.executable, "-m", "launch", "launch", f"--changed=--output={target}",
                           "--executor", "local", "--yes"], cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "--changed takes a revision" in done.stderr
    assert not target.exists() and "Traceback" not in done.stderr


# --- L11: the TensorBoard port ------------------------------------------------------------


@pytest.mark.parametrize("port", ["-1", "99999", "http"])
def test_tb_port_is_validated(port):
    done = subprocess.run([sys.executable, "-m", "launch", "tb", "x", "--port", port], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "is not a port number" in done.stderr and "Traceback" not in done.stderr


# --- siblings found by a second, hostile review --------------------------------------------


@pytest.mark.parametrize(("body", "says"), [
    ("experiment = {'name': 'g', 'kind': 'smoke', 'env': (x for x in range(3))}", "a generator is not a spec value"),
    ("experiment = {'name': 'h', 'kind': 'smoke', 'seed': 10**5000}", "too large for any field"),
    ("class R:\n    def __repr__(self):\n        1 / 0\n\nexperiment = {'name': 'r', 'kind': 'smoke', 'env': R()}",
     "is not a spec value"),
    ("class S:\n    def __repr__(self):\n        1 / 0\n\nraise SystemExit(S())", "cannot be shown"),
    ("class E(BaseException):\n    def __str__(self):\n        raise E()\n\nraise E()", "running the spec failed: E"),
])
def test_whatever_a_python_spec_builds_or_raises_is_a_message(cli, tmp_path, body, says):
    spec = tmp_path / "odd.py"
    spec.write_text(body + "\n")
    code, _, err = cli("validate", spec)
    assert code == 1 and says in err and "Traceback" not in err


@pytest.mark.parametrize(("override", "field"), [
    ("resources.sbatch_extra={time: UNLIMITED}", "resources.sbatch_extra"),
    ("resources.sbatch_extra={nodes: 100000}", "resources.sbatch_extra"),
    ("resources.mem=9007199254740000", "resources.mem"),
])
def test_bounds_cannot_be_bypassed(cli, write_spec, override, field):
    code, _, err = cli("validate", write_spec(MINIMAL), "-o", override)
    assert code == 1 and f" {field}: " in err and "Traceback" not in err


def test_a_ladder_too_large_for_the_cap_is_refused(cli, tmp_path):
    models = ", ".join(f"{{name: m{i}, name_or_path: org/m{i}, size: 1B}}" for i in range(120))
    interventions = ", ".join(f"{{name: i{i}}}" for i in range(100))
    spec = tmp_path / "big.yaml"
    spec.write_text(f"name: big\nkind: size_ladder\nresources: {{time: 10}}\nladder:\n  models: [{models}]\n"
                    f"  suites: [{{name: s, ability: math, tasks: [gsm8k]}}]\n  interventions: [{interventions}]\n")
    code, _, err = cli("validate", spec)
    assert code == 1 and "12,000 cells" in err and "Traceback" not in err


def test_misspelled_names_and_metrics_foreign_to_the_evaluator_are_refused(cli, write_spec):
    spec = write_spec(MINIMAL + "evaluation:\n  metrics: [exact_mtach, bleu]\n  normalizer: basci\n"
                      "dpo: {}\n".replace("dpo: {}\n", ""))
    code, _, err = cli("validate", spec)
    assert code == 1
    assert "evaluation.metrics.0: unknown name 'exact_mtach'; did you mean 'exact_match'?" in err
    assert "evaluation.normalizer: unknown name 'basci'; did you mean 'basic'?" in err
    spec = write_spec(MINIMAL + "evaluation: {metrics: [bleu]}\n")
    code, _, err = cli("validate", spec)
    assert code == 1 and "the 'default' evaluator does not compute 'bleu'" in err
    spec = write_spec(MINIMAL.replace("kind: sft", "kind: dpo") + "dpo: {loss_type: [sigmod]}\n")
    code, _, err = cli("validate", spec)
    assert code == 1 and "did you mean 'sigmoid'?" in err
