"""The labspec CLI: validate, compile (table/scripts/json/--emit), schema, --help, --version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, MINIMAL


def test_version_and_help(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("labspec ")
    for args in (["--help"], ["validate", "--help"], ["compile", "--help"], ["schema", "--help"]):
        code, out, _ = cli(*args)
        assert code == 0 and "usage: labspec" in out
    code, out, _ = cli()
    assert code == 2 and "validate" in out


def test_validate_ok_and_failing(cli, write_spec):
    good = write_spec(MINIMAL)
    bad = write_spec(MINIMAL.replace("kind: sft", "kind: sfft"), "bad.yaml")
    code, out, err = cli("validate", good)
    assert code == 0 and "ok (sft, 1 runs)" in out and err == ""
    code, out, err = cli("validate", good, bad)
    assert code == 1
    assert f"{bad}:2: kind: unknown kind 'sfft'" in err and "did you mean 'sft'" in err
    assert "Traceback" not in err


def test_compile_table(cli, write_spec):
    spec = write_spec(MINIMAL.replace("train.jsonl}", "train.jsonl, test: test.jsonl}")
                      + "evaluation: {}\nsweep: {grid: {training.lr: [1.0e-5, 2.0e-5]}}\n")
    code, out, err = cli("compile", spec)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["STAGE", "NAME", "ID", "DEPENDS", "ON", "NODES", "x", "GPUS", "TIME"]
    assert len([ln for ln in lines[1:] if ln.startswith(("sft", "evaluate"))]) == 4
    assert "mini (sft): 4 runs" in out


def test_compile_json_shape(cli, write_spec):
    code, out, _ = cli("compile", write_spec(MINIMAL + "evaluation: {}\n"), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["experiment"] == "mini" and doc["kind"] == "sft"
    run = doc["runs"][1]
    for key in ("id", "name", "stage", "depends_on", "axes", "run_dir", "resources", "command", "script",
                "deepspeed"):
        assert key in run
    assert run["depends_on"] == [doc["runs"][0]["id"]]
    assert run["command"][-3:] == ["-m", "runtime", run["run_dir"] + "/run.json"]


def test_compile_scripts_shows_script_and_deepspeed(cli, write_spec):
    code, out, _ = cli("compile", write_spec(MINIMAL), "--format", "scripts")
    assert code == 0
    assert "#!/usr/bin/env bash" in out and "deepspeed.json" in out and '"train_batch_size": 8' in out


def test_overrides_on_the_command_line(cli, write_spec):
    spec = write_spec(MINIMAL)
    code, out, _ = cli("compile", spec, "-o", "sweep.grid.training.lr=[1e-5,2e-5,3e-5]", "--format", "json")
    assert code == 0 and len(json.loads(out)["runs"]) == 3
    code, _, err = cli("compile", spec, "-o", "training.micro_batch_size=3")
    assert code == 1 and f"{spec}:6: training.global_batch_size" in err and "micro_batch_size 3" in err


def test_emit_writes_run_dirs_and_never_overwrites(cli, write_spec, tmp_path):
    spec = write_spec(MINIMAL + "evaluation: {}\n")
    out_dir = tmp_path / "out"
    code, _, err = cli("compile", spec, "--emit", out_dir)
    assert code == 0, err
    run_dirs = sorted((out_dir / "mini").iterdir())
    assert len(run_dirs) == 2
    sft = next(d for d in run_dirs if d.name.startswith("sft-"))
    for name in ("run.json", "deepspeed.json", "launch.sh", "provenance.json"):
        assert (sft / name).is_file()
    assert (sft / "launch.sh").stat().st_mode & 0o111
    run = json.loads((sft / "run.json").read_text())
    assert run["run_dir"] == str(sft)
    prov = json.loads((sft / "provenance.json").read_text())
    assert prov["spec"] == str(spec.resolve()) and len(prov["spec_sha256"]) == 64
    assert prov["run_id"] == run["run_id"] and "git_commit" in prov

    again = cli("compile", spec, "--emit", out_dir)
    assert again[0] == 0 and "wrote 0 run dirs" in again[2]
    # the same runs with another interpreter: same run.json, the launch script follows
    assert cli("compile", spec, "--emit", out_dir, "-o", "python=/opt/other/python")[0] == 0
    assert "/opt/other/python" in (sft / "launch.sh").read_text()

    # a run dir holding a different run's files is refused, and nothing is touched
    (sft / "run.json").write_text('{"someone": "else"}\n')
    before = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    code, _, err = cli("compile", spec, "--emit", out_dir)
    assert code == 1 and "already holds a different run.json" in err
    assert before == {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}


def test_emit_records_a_dirty_git_tree(cli, write_spec, tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], check=True)
    spec = repo / "spec.yaml"
    spec.write_text(MINIMAL)
    subprocess.run([*git, "add", "spec.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "spec"], check=True)
    assert cli("compile", spec, "--emit", tmp_path / "clean")[0] == 0
    prov = json.loads(next((tmp_path / "clean").rglob("provenance.json")).read_text())
    assert prov["git_dirty"] is False and len(prov["git_commit"]) == 40
    spec.write_text(MINIMAL + "description: edited\n")
    assert cli("compile", spec, "--emit", tmp_path / "dirty")[0] == 0
    prov = json.loads(next((tmp_path / "dirty").rglob("provenance.json")).read_text())
    assert prov["git_dirty"] is True


def test_an_unwritable_emit_dir_is_a_clear_error(cli, write_spec, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = cli("compile", write_spec(MINIMAL), "--emit", blocker / "out")
    assert code == 1 and "cannot write run dirs" in err and "Traceback" not in err


def test_user_errors_exit_nonzero_without_traceback(cli, tmp_path):
    code, _, err = cli("compile", tmp_path / "nope.yaml")
    assert code == 1 and "spec file not found" in err and "Traceback" not in err
    (tmp_path / "x.txt").write_text("name: a")
    code, _, err = cli("validate", tmp_path / "x.txt")
    assert code == 1 and ".yaml/.yml file or a .py module" in err
    code, _, err = cli("compile", EXAMPLES / "spin.yaml", "--format", "xml")
    assert code == 2 and "invalid choice" in err


def test_schema_command(cli):
    code, out, _ = cli("schema")
    schema = json.loads(out)
    assert code == 0 and "oneOf" in json.dumps(schema) and schema["discriminator"]["propertyName"] == "kind"
    partial = json.loads(cli("schema", "--partial")[1])
    assert "required" not in json.dumps(partial)


@pytest.mark.parametrize("spec", sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".py")))
def test_every_example_compiles_through_the_cli(cli, spec):
    code, out, err = cli("compile", Path(EXAMPLES, spec), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["runs"]
