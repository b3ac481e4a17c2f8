"""Hostile spec values can never inject a shell command into a rendered launch script.

The scripts are not only inspected but executed: the spec's `python` is a stub (an
executable in tmp_path that records its argv, environment and working directory as
JSON), so `bash launch.sh` runs end to end without torch or SLURM. Every hostile string
must arrive byte for byte as one argv item or one environment value, and no injected
`touch PWNED` may ever run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler import compile
from compiler.plan import Run
from specs import SpecError, load_spec, load_text
from tests.conftest import MINIMAL

BASH = shutil.which("bash") or "/bin/bash"

INJECTIONS = [
    "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "&& touch PWNED", "|| touch PWNED", "| touch PWNED",
    "'; touch PWNED; '", '"; touch PWNED; "', "'\"'\"'; touch PWNED #", "\ntouch PWNED\n", "\r\ntouch PWNED",
    ">PWNED", "<(touch PWNED)", "${HOME}", "$HOME", "${HOME:?}", "$((1+1))", "$'\\x41'", "*", "?", "[a-z]*",
    "~", "~root", "{a,b}", "!!", "#", "\\", "\\'", "a'b\"c", "-rf", "--help", "-e", "\t", " ", "", "%s",
    "é ✓ \u2028", "\x1b[31m",
]
NASTY = "".join(INJECTIONS)  # all of them in one value
HOSTILE_PATH = "x $(touch PWNED) `touch PWNED`; && ' \" \n${HOME} * ? -rf"  # fit for a file name
ENV = {**{f"E{i}": s for i, s in enumerate(INJECTIONS)}, "NASTY": NASTY,
       "TOKENIZERS_PARALLELISM": "false"}
SHELL_VARS = {"${NODE_RANK}": "0", "${MASTER_ADDR}": "127.0.0.1", "${MASTER_PORT}": "29500"}

STUB = '''#!{python}
import json, os, sys
record = {{"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}}
last = sys.argv[-1] if len(sys.argv) > 1 else ""
if last.endswith("run.json") and os.path.isfile(last):
    with open(last, encoding="utf-8") as f:
        record["run_json"] = json.load(f)
with open({dump!r}, "w", encoding="utf-8") as f:
    json.dump(record, f)
'''


# --- helpers ---------------------------------------------------------------------------


def make_stub(tmp_path: Path, directory: str = HOSTILE_PATH, name: str = "py stub $(touch PWNED)") -> Path:
    """An executable that records how it was started into tmp_path/dump.json."""
    folder = tmp_path / directory
    folder.mkdir(parents=True, exist_ok=True)
    stub = folder / name
    stub.write_text(STUB.format(python=sys.executable, dump=str(tmp_path / "dump.json")), encoding="utf-8")
    stub.chmod(0o755)
    return stub


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: no SLURM variables, HOME inside tmp_path."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C.UTF-8", **extra}


def run_script(script: Path, tmp_path: Path, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """bash SCRIPT in `cwd`; the stub's record of its start."""
    dump = tmp_path / "dump.json"
    dump.unlink(missing_ok=True)
    done = subprocess.run([BASH, str(script)], cwd=cwd, env=env or clean_env(tmp_path), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, f"launch script failed ({done.returncode}):\n{done.stderr}"
    assert dump.is_file(), f"the stub did not run:\n{done.stdout}\n{done.stderr}"
    record: dict[str, Any] = json.loads(dump.read_text(encoding="utf-8"))
    return record


def assert_not_pwned(*roots: Path) -> None:
    for root in roots:
        hits = [str(p) for p in root.rglob("PWNED")]
        assert not hits, f"an injected command ran: {hits}"
    assert not (Path.cwd() / "PWNED").exists()


def expected_argv(run: Run) -> list[str]:
    """The command as the stub must see it: shell variables set by the script, the rest verbatim."""
    return [SHELL_VARS.get(a, a) for a in run.command]


def assert_started_verbatim(record: dict[str, Any], run: Run, python: str) -> None:
    argv = expected_argv(run)
    assert argv[0] == python
    assert record["argv"] == argv  # argv[0] of a script is the path it was started by
    assert record["argv"][-1] == os.path.join(run.run_dir, "run.json")
    assert os.path.realpath(record["cwd"]) == os.path.realpath(run.run_dir)
    for key, value in run.env.items():
        assert record["env"].get(key) == value, key
    assert record["env"]["LABSPEC_RUN_DIR"] == run.run_dir


def hostile_spec(python: str, launcher: str = "torchrun", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(MINIMAL)
    spec.update({
        "description": NASTY,
        "python": python,
        "launcher": launcher,
        "output_root": HOSTILE_PATH,
        "env": dict(ENV),
        "stages": {"evaluate": {"env": {"STAGE_ONLY": NASTY[::-1]}}},
        "evaluation": {"data": "eval/" + NASTY},
    })
    spec["model"]["name_or_path"] = "org/" + NASTY
    spec["data"].update({"train": HOSTILE_PATH + "/train.jsonl", "test": "-" + NASTY})
    if launcher == "python":
        spec["resources"]["gpus_per_node"] = 1
    spec.update(extra)
    return spec


def write_json_spec(write_spec: Callable[..., Path], spec: dict[str, Any], name: str = "spec.yaml") -> Path:
    """JSON is YAML: every string, newlines and quotes included, survives exactly."""
    return write_spec(json.dumps(spec), name)


# --- executing compiled scripts -----------------------------------------------------------


@pytest.mark.parametrize("launcher", ["torchrun", "deepspeed", "python"])
def test_hostile_values_reach_the_run_verbatim_and_nothing_is_injected(
        tmp_path: Path, write_spec: Callable[..., Path], launcher: str) -> None:
    stub = make_stub(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    spec = hostile_spec(str(stub), launcher,
                        sweep={"grid": {"data.train": [HOSTILE_PATH, "-" + NASTY]}})
    loaded = load_spec(write_json_spec(write_spec, spec))
    exp = loaded.experiment
    assert exp.env == ENV and exp.python == str(stub) and exp.description == NASTY  # the spec kept them

    plan = compile(loaded, base_dir=str(work))
    assert len(plan.runs) == 4  # sft and evaluate, per swept data.train
    for run in plan.runs:
        assert re.fullmatch(r"[A-Za-z0-9._=+-]+", run.name), run.name
        assert run.run_dir.startswith(os.path.join(str(work), HOSTILE_PATH) + os.sep)
        Path(run.run_dir).mkdir(parents=True)
        script = tmp_path / f"launch-{run.id}.sh"
        script.write_text(run.script, encoding="utf-8")
        record = run_script(script, tmp_path, cwd=work)
        assert_started_verbatim(record, run, str(stub))
        env = record["env"]
        for key, value in ENV.items():
            assert env[key] == value, key
        if run.stage_type == "evaluate":
            assert env["STAGE_ONLY"] == NASTY[::-1]
        else:
            assert "STAGE_ONLY" not in env
        assert env["HOME"] == str(tmp_path / "home")
    assert_not_pwned(tmp_path)
    train = {r.config["task_config"]["data"]["path"] for r in plan.runs if r.stage == "sft"}
    assert train == {HOSTILE_PATH, "-" + NASTY}
    assert {r.config["task_config"]["model"]["name_or_path"] for r in plan.runs if r.stage == "sft"} == {
        "org/" + NASTY}


def test_emitted_run_dirs_run_safely_end_to_end(
        tmp_path: Path, write_spec: Callable[..., Path], cli: Callable[..., tuple[int, str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`labspec compile --emit DIR` with a hostile DIR, then bash each launch.sh as written."""
    stub = make_stub(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    spec = write_json_spec(write_spec, hostile_spec(str(stub), output_root="ignored"))
    emit_dir = "-emit " + HOSTILE_PATH  # relative to the cwd, and starting with a dash
    code, out, err = cli("compile", spec, "--emit", emit_dir)
    assert code == 0, err
    assert "mini (sft): 2 runs" in out
    scripts = sorted(work.rglob("launch.sh"))
    assert len(scripts) == 2  # sft and evaluate
    root = work / emit_dir
    for script in scripts:
        assert script.is_relative_to(root)
        assert os.access(script, os.X_OK)
        record = run_script(script, tmp_path, cwd=work)
        assert record["argv"][0] == str(stub)
        assert record["argv"][-1] == str(script.parent / "run.json")
        assert os.path.realpath(record["cwd"]) == os.path.realpath(script.parent)
        config = record["run_json"]
        assert config["run_dir"] == str(script.parent)
        assert config["base_dir"] == str(work)
        model = config["task_config"]["model"]["name_or_path"]
        if config["stage"] == "sft":
            assert model == "org/" + NASTY
            assert config["task_config"]["data"]["path"] == HOSTILE_PATH + "/train.jsonl"
        else:
            assert model.startswith(str(root)) and model.endswith("checkpoints/final")
            assert config["task_config"]["data"]["path"] == "eval/" + NASTY
        for key, value in ENV.items():
            assert record["env"][key] == value, key
    assert_not_pwned(tmp_path)


def test_the_stub_sees_hostile_strings_an_unquoted_script_would_mangle(tmp_path: Path) -> None:
    """Guard against a vacuous pass: the same values, NOT quoted, do run the injection."""
    stub = make_stub(tmp_path)
    script = tmp_path / "unsafe.sh"
    script.write_text(f"export E={INJECTIONS[0]}\nexec {shlex.quote(str(stub))} x\n", encoding="utf-8")
    run_script(script, tmp_path, cwd=tmp_path)
    assert (tmp_path / "PWNED").exists()


# --- environment names ---------------------------------------------------------------


BAD_NAMES = ["A;B", "$(x)", "`x`", "1A", "A B", "A-B", "", "A=B", "A\nB", "\nA", "é", " A", "A\x00", "${A}",
             "A.B", "-A"]


def _with_env(env: dict[str, str], where: str) -> str:
    spec: dict[str, Any] = yaml.safe_load(MINIMAL)
    if where == "env":
        spec["env"] = env
    else:
        spec["stages"] = {"sft": {"env": env}}
    return json.dumps(spec)


@pytest.mark.parametrize("where", ["env", "stages.sft.env"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_env_names_that_are_not_identifiers_are_rejected(name: str, where: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_text(_with_env({name: "x"}, where), "f.yaml")
    assert any(p.path.startswith(where.split(".")[0]) for p in exc.value.problems), str(exc.value)


@pytest.mark.parametrize("name", ["A;B", "$(x)", "1A", "A B", ""])
def test_pass_env_names_that_are_not_identifiers_are_rejected(name: str) -> None:
    spec: dict[str, Any] = {**yaml.safe_load(MINIMAL), "pass_env": ["HF_TOKEN", name]}
    with pytest.raises(SpecError) as exc:
        load_text(json.dumps(spec), "f.yaml")
    assert any(p.path.startswith("pass_env") for p in exc.value.problems), str(exc.value)


@pytest.mark.parametrize("where", ["env", "stages.sft.env", "pass_env"])
def test_env_names_with_a_trailing_newline_are_rejected(where: str) -> None:
    if where == "pass_env":
        text = json.dumps({**yaml.safe_load(MINIMAL), "pass_env": ["X\n"]})
    else:
        text = _with_env({"A\n": "x"}, where)
    with pytest.raises(SpecError):
        load_text(text, "f.yaml")


@pytest.mark.parametrize("where", ["env", "stages.sft.env"])
@pytest.mark.parametrize("name", ["HF_TOKEN", "WANDB_API_KEY", "MY_SECRET", "hf_token", "AWS_SECRET_ACCESS_KEY",
                                  "DB_PASSWORD", "GITHUB_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"])
def test_secret_looking_env_names_are_rejected_pointing_at_pass_env(name: str, where: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_text(_with_env({name: "s3cr3t"}, where), "f.yaml")
    assert "pass_env" in str(exc.value)
    assert all("s3cr3t" not in p.message for p in exc.value.problems)


@pytest.mark.parametrize("name", ["TOKENIZERS_PARALLELISM", "NCCL_DEBUG", "OMP_NUM_THREADS", "SECRETARY"])
def test_ordinary_env_names_are_accepted(name: str) -> None:
    exp = load_text(_with_env({name: "false"}, "env"), "f.yaml")
    assert exp.env == {name: "false"}
    script = compile(exp, base_dir="/nonexistent").runs[0].script
    assert f"export {name}=false\n" in script


def test_hostile_experiment_names_are_rejected() -> None:
    for name in ["$(touch PWNED)", "a;b", "a b", "-rf", "a\nb", "mini\n", "A"]:
        spec = {**yaml.safe_load(MINIMAL), "name": name}
        with pytest.raises(SpecError):
            load_text(json.dumps(spec), "f.yaml")


# --- secrets never reach the disk ---------------------------------------------------------


def test_emit_never_writes_the_value_of_a_passed_secret(
        tmp_path: Path, write_spec: Callable[..., Path], cli: Callable[..., tuple[int, str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    marker = "hf_MARKER_4f1c2a9e_do_not_write"
    wandb = "wandb_MARKER_77d0_do_not_write"
    monkeypatch.setenv("HF_TOKEN", marker)
    monkeypatch.setenv("WANDB_API_KEY", wandb)
    stub = make_stub(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    spec = yaml.safe_load(MINIMAL)
    spec.update({"python": str(stub), "evaluation": {"data": "test.jsonl"}})
    path = write_json_spec(write_spec, spec)
    emit_dir = tmp_path / "emitted"
    outputs = []
    for fmt in ("table", "scripts", "json"):
        code, out, err = cli("compile", path, "--format", fmt, "--emit", emit_dir)
        assert code == 0, err
        outputs += [out, err]
    files = [p for p in emit_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"launch.sh", "run.json", "provenance.json", "deepspeed.json"}
    for p in files:
        data = p.read_bytes()
        assert marker.encode() not in data and wandb.encode() not in data, p
    for text in outputs:
        assert marker not in text and wandb not in text
    launch = next(p for p in files if p.name == "launch.sh")
    assert "HF_TOKEN" in launch.read_text(encoding="utf-8")  # the name is there, as a comment
    # ...and the value still reaches the run, from the submitting environment
    record = run_script(launch, tmp_path, cwd=work, env=clean_env(tmp_path, HF_TOKEN=marker))
    assert record["env"]["HF_TOKEN"] == marker


# --- regressions: inputs that once slipped through ------------------------------------------


@pytest.mark.parametrize("python", ["-a", "-pystub"])
def test_an_interpreter_name_starting_with_a_dash_is_not_an_exec_option(
        tmp_path: Path, write_spec: Callable[..., Path], python: str) -> None:
    bindir = tmp_path / "bin"
    make_stub(tmp_path, "bin", python)
    for decoy in ("runtime.torchrun", "deepspeed.launcher.runner", "runtime"):
        (bindir / decoy).write_text(f"#!/bin/sh\ntouch '{tmp_path}/PWNED'\n", encoding="utf-8")
        (bindir / decoy).chmod(0o755)
    spec = {**yaml.safe_load(MINIMAL), "python": python}
    try:
        loaded = load_spec(write_json_spec(write_spec, spec))
    except SpecError as exc:  # rejecting such an interpreter is a fix too
        assert "python" in str(exc)
        return
    run = compile(loaded, base_dir=str(tmp_path)).runs[0]
    Path(run.run_dir).mkdir(parents=True)
    script = tmp_path / "launch.sh"
    script.write_text(run.script, encoding="utf-8")
    done = subprocess.run([BASH, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False, env=clean_env(tmp_path, PATH=f"{bindir}:/usr/bin:/bin"))
    assert_not_pwned(tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "dump.json").read_text(encoding="utf-8"))
    assert record["argv"][1:] == expected_argv(run)[1:]


def test_env_values_with_nul_are_rejected_or_arrive_intact(
        tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    stub = make_stub(tmp_path)
    spec = {**yaml.safe_load(MINIMAL), "python": str(stub), "env": {"A": "a\x00b"}}
    try:
        loaded = load_spec(write_json_spec(write_spec, spec))
    except SpecError:
        return
    run = compile(loaded, base_dir=str(tmp_path)).runs[0]
    Path(run.run_dir).mkdir(parents=True)
    script = tmp_path / "launch.sh"
    script.write_text(run.script, encoding="utf-8")
    record = run_script(script, tmp_path, cwd=tmp_path)
    assert record["env"]["A"] == "a\x00b"


def test_unencodable_values_fail_cleanly_in_compile_emit(
        tmp_path: Path, write_spec: Callable[..., Path], cli: Callable[..., tuple[int, str, str]]) -> None:
    spec = {**yaml.safe_load(MINIMAL), "env": {"A": "x\ud800y"}}
    code, _, err = cli("compile", write_json_spec(write_spec, spec), "--emit", tmp_path / "out")
    assert code == 1 and err.startswith("error:")
