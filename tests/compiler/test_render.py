"""Launch scripts: one template per launcher, the head-node/port logic, StrictUndefined."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import jinja2
import pytest

from compiler import compile, render
from specs import load_spec
from tests.conftest import MINIMAL

HEAD_ONLY = "\n".join(["echo \"$MASTER_ADDR $MASTER_PORT $NODE_RANK $NNODES $NPROC_PER_NODE\"", "exit 0"])


def _script(write_spec, extra: str = "") -> str:
    plan = compile(load_spec(write_spec(MINIMAL + extra)))
    return plan.runs[0].script


def _run_head(script: str, tmp_path: Path, env: dict[str, str]) -> str:
    """Run the script up to its final exec, printing what it derived."""
    head, _, _ = script.rpartition("\nexec ")
    body = head.replace(f"cd {script.split('cd ', 1)[1].splitlines()[0]}", "cd .")
    path = tmp_path / "head.sh"
    path.write_text(body + "\n" + HEAD_ONLY + "\n")
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          check=True)
    return done.stdout.strip()


def test_outside_slurm_defaults_to_localhost(write_spec, tmp_path):
    out = _run_head(_script(write_spec), tmp_path, {"PATH": os.environ["PATH"]})
    assert out == "127.0.0.1 29500 0 1 2"


def test_inside_slurm_head_node_port_and_rank(write_spec, tmp_path):
    """The SLURM branch, with `scontrol` stood in by a script printing what SLURM would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text('#!/bin/bash\nif [ "$1 $2" = "show hostnames" ]; then printf "n7\\nn8\\n"; '
                        'else echo "NodeName=n7 Arch=x86_64 NodeAddr=10.1.2.3 NodeHostName=n7"; fi\n')
    scontrol.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "n[7-8]",
           "SLURM_NODEID": "1", "SLURM_JOB_ID": "123456"}
    out = _run_head(_script(write_spec), tmp_path, env)
    assert out == f"10.1.2.3 {20000 + 123456 % 20000} 1 1 2"


def test_a_failing_scontrol_falls_back_to_the_host_name(write_spec, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text('#!/bin/bash\nif [ "$1 $2" = "show hostnames" ]; then echo n7; else exit 1; fi\n')
    scontrol.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "n7", "SLURM_NODEID": "0",
           "SLURM_JOB_ID": "5"}
    assert _run_head(_script(write_spec), tmp_path, env) == "n7 20005 0 1 2"


def test_each_launcher_has_its_own_template_and_command(write_spec):
    plan = compile(load_spec(write_spec(MINIMAL)))
    torchrun = plan.runs[0]
    assert torchrun.command[1:3] == ["-m", "runtime.torchrun"]  # torchrun, minus its traceback
    assert "${MASTER_ADDR}" in torchrun.command
    ds = compile(load_spec(write_spec(MINIMAL + "launcher: deepspeed\n", "d.yaml"))).runs[0]
    assert ds.command[1:3] == ["-m", "deepspeed.launcher.runner"] and "--no_ssh" in ds.command
    one = compile(load_spec(write_spec(MINIMAL.replace("gpus_per_node: 2", "gpus_per_node: 1")
                                       .replace("micro_batch_size: 2", "micro_batch_size: 8")
                                       + "launcher: python\n", "p.yaml"))).runs[0]
    assert one.command[1:] == ["-m", "runtime", one.run_dir + "/run.json"]
    assert "export RANK=0 LOCAL_RANK=0 WORLD_SIZE=1" in one.script
    for run in (torchrun, ds, one):
        assert run.script.startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in run.script
        assert f"cd {run.run_dir}\n" in run.script


def test_deepspeed_runner_accepts_the_rendered_arguments(write_spec):
    """The argv we render parses with the installed DeepSpeed runner's own parser."""
    pytest.importorskip("deepspeed")
    from deepspeed.launcher.runner import parse_args

    run = compile(load_spec(write_spec(MINIMAL + "launcher: deepspeed\n"))).runs[0]
    args = [{"${NODE_RANK}": "0", "${MASTER_ADDR}": "127.0.0.1", "${MASTER_PORT}": "29500"}.get(a, a)
            for a in run.command[3:]]
    parsed = parse_args(args)
    assert parsed.module and parsed.no_ssh and parsed.no_local_rank
    assert parsed.user_script == "runtime" and parsed.user_args == [run.run_dir + "/run.json"]
    assert parsed.num_gpus == 2 and parsed.num_nodes == 1


def test_torchrun_accepts_the_rendered_arguments(write_spec):
    pytest.importorskip("torch")
    from torch.distributed.run import parse_args

    run = compile(load_spec(write_spec(MINIMAL))).runs[0]
    args = [{"${NODE_RANK}": "0", "${MASTER_ADDR}": "127.0.0.1", "${MASTER_PORT}": "29500"}.get(a, a)
            for a in run.command[3:]]
    parsed = parse_args(args)
    assert parsed.nnodes == "1" and parsed.nproc_per_node == "2" and parsed.module
    assert parsed.training_script == "runtime" and parsed.training_script_args == [run.run_dir + "/run.json"]


def test_strict_undefined_and_quoting_filters():
    with pytest.raises(jinja2.UndefinedError):
        render.render("python", experiment="e")
    assert render.quote("a b'c") == "'a b'\"'\"'c'"
    assert render.quote(render.ShellVar("NODE_RANK")) == '"${NODE_RANK}"'
    with pytest.raises(ValueError):
        render.quote(render.ShellVar("X; rm"))
    with pytest.raises(ValueError):
        render.env_name("A B")
    assert render.one_line("a\nb\rc") == "a b c"
