"""`labspec diff RUN_A RUN_B`: config, code, environment and upstream differences between two
runs, read from hand-made run dirs (known differences) and from a compiled sweep."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from launch.diff import Runs, diff_runs, read_run
from launch.ledger import Ledger
from tests.conftest import EXAMPLES
from tests.launch_helpers import run_cli

EXP = "exp"


def make_run(root: Path, name: str, run_id: str, *, lr: float = 1e-4, beta: float = 0.1, zero: int = 2,
             model: str = "some/model", depends_on: tuple[str, ...] = (), stage: str = "dpo",
             code: dict[str, Any] | None = None, env: dict[str, Any] | None = None,
             git: tuple[str | None, bool | None] = ("c0ffee", False)) -> Path:
    """A run dir of experiment EXP under `root` with the given values; everything per-run
    (id, name, paths, coordinates, tensorboard dir) differs between any two of them."""
    run_dir = root / EXP / f"{name}-{run_id}"
    run_dir.mkdir(parents=True)
    config = {
        "format": 2, "labspec_version": "0.1.0", "experiment": EXP, "kind": "formula_dpo", "run_id": run_id,
        "run_name": name, "stage": stage, "stage_type": stage, "task": stage, "run_dir": str(run_dir),
        "base_dir": str(root / f"cwd-{run_id}"), "seed": 0, "axes": {"beta": beta},
        "coordinates": {"role": "train", "point": {"beta": beta}}, "depends_on": list(depends_on),
        "world_size": 2, "shards": 1,
        "task_config": {"model": {"name_or_path": model, "dtype": "bf16"},
                        "dpo": {"beta": beta, "loss_type": "sigmoid"}, "data": {"path": "/data/train.jsonl"}},
        "training": {"lr": lr, "epochs": 1.0, "betas": [0.9, 0.999]}, "peft": None,
        "deepspeed_config": str(run_dir / "deepspeed.json"),
        "tensorboard": {"enabled": True, "log_dir": str(run_dir / "tb"), "log_every_n_steps": 10},
        "outputs": {"model": str(run_dir / "checkpoints/final")},
        "paths": {d: str(run_dir / d) for d in ("checkpoints", "outputs", "logs", "tb")},
    }
    (run_dir / "run.json").write_text(json.dumps(config, indent=2))
    (run_dir / "deepspeed.json").write_text(json.dumps({"train_batch_size": 8, "zero_optimization": {"stage": zero}}))
    provenance: dict[str, Any] = {"spec": "/specs/x.yaml", "git_commit": git[0], "git_dirty": git[1],
                                  "run_id": run_id, "overrides": []}
    if code is not None:
        provenance["code"] = code
    (run_dir / "provenance.json").write_text(json.dumps(provenance))
    if env is not None:
        (run_dir / "environment.json").write_text(json.dumps(env))
    return run_dir


def make_snapshot(root: Path, files: dict[str, str], commit: str = "c0ffee", dirty: bool = False) -> dict[str, str]:
    """A code snapshot under root/.labspec/code/<id>/ as launch.snapshot writes it; its provenance entry."""
    hashes = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}
    code_id = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:16]
    where = root / ".labspec" / "code" / code_id
    for name, text in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text)
    manifest = {"id": code_id, "commit": commit, "dirty": dirty, "files": hashes, "created": 0.0}
    (where / "manifest.json").write_text(json.dumps(manifest))
    return {"id": code_id, "dir": str(where)}


def environment(**changes: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"python": "3.11.7", "packages": {"torch": "2.13.0", "transformers": "4.50.0"},
                           "cuda": "12.4", "nccl": "2.21.5", "gpus": {"model": "H100", "count": 4},
                           "hosts": ["n1"], "recorded_at": 1.0}
    for key, value in changes.items():
        if key in ("torch", "transformers", "deepspeed"):
            env["packages"][key] = value
        else:
            env[key] = value
    return env


def diff(a: Path, b: Path, code_diff: bool = False) -> Any:
    with Runs(str(a.parent / "no-ledger-here")) as runs:  # never the ledger of ./runs
        return diff_runs(read_run(a), read_run(b), runs, code_diff=code_diff)


def fields(changes: list[Any]) -> list[str]:
    return [c.field for c in changes]


def test_config_differences_by_dotted_field_without_per_run_fields(tmp_path):
    a = make_run(tmp_path, "dpo__beta=0.1", "aaaa000001", beta=0.1)
    b = make_run(tmp_path, "dpo__beta=0.3", "bbbb000002", beta=0.3, lr=2e-4, zero=3)
    result = diff(a, b)
    assert fields(result.config) == ["deepspeed.zero_optimization.stage", "task_config.dpo.beta", "training.lr"]
    text = result.text()
    assert "  task_config.dpo.beta: 0.1 -> 0.3\n" in text and "  training.lr: 0.0001 -> 0.0002\n" in text
    assert "  deepspeed.zero_optimization.stage: 2 -> 3\n" in text
    assert text.startswith(f"a: dpo__beta=0.1 (aaaa000001)  {a}\nb: dpo__beta=0.3 (bbbb000002)  {b}\nexperiment: exp\n")
    assert "no differences" not in text and "upstream" not in text
    same = diff(a, make_run(tmp_path, "dpo-again", "cccc000003", beta=0.1))
    assert same.config == [] and not same.differs and same.text().endswith("\nno differences\n")


def test_upstream_paths_compare_by_stage_and_upstream_differences_are_summarised(tmp_path):
    sft_a = make_run(tmp_path, "sft__lr=1e-4", "5f7a000001", stage="sft", lr=1e-4)
    sft_b = make_run(tmp_path, "sft__lr=3e-4", "5f7b000002", stage="sft", lr=3e-4)
    ev_a = make_run(tmp_path, "eval_a", "e0a0000003", stage="evaluate", depends_on=("5f7a000001",),
                    model=f"{sft_a}/checkpoints/final")
    ev_b = make_run(tmp_path, "eval_b", "e0b0000004", stage="evaluate", depends_on=("5f7b000002",),
                    model=f"{sft_b}/checkpoints/final")
    result = diff(ev_a, ev_b)
    assert result.config == []  # <upstream sft>/checkpoints/final on both sides
    (up,) = result.upstream
    assert (up.label, up.a, up.b) == ("sft", "5f7a000001", "5f7b000002")
    assert up.detail is not None and fields(up.detail.config) == ["training.lr"]
    lines = result.sections()["upstream"]
    assert lines[0] == "sft: 5f7a000001 -> 5f7b000002 differs: 1 config field"
    assert lines[1] == "  training.lr: 0.0001 -> 0.0003"
    assert lines[2] == f"  (labspec diff {sft_a} {sft_b})"
    # a third evaluation of the same checkpoint as ev_a: no difference at all
    ev_c = make_run(tmp_path, "eval_c", "e0c0000005", stage="evaluate", depends_on=("5f7a000001",),
                    model=f"{sft_a}/checkpoints/final")
    same = diff(ev_a, ev_c)
    assert not same.differs and "upstream" not in same.sections()


def test_upstream_found_from_its_paths_when_not_beside_the_run(tmp_path):
    sft = make_run(tmp_path / "elsewhere", "sft", "5f70000001", stage="sft")
    ev_a = make_run(tmp_path, "eval_a", "e0a0000002", stage="evaluate", depends_on=("5f70000001",),
                    model=f"{sft}/checkpoints/final")
    ev_b = make_run(tmp_path, "eval_b", "e0b0000003", stage="evaluate", model="some/model")
    result = diff(ev_a, ev_b)
    assert [c.text() for c in result.config] == [
        'task_config.model.name_or_path: "<upstream sft>/checkpoints/final" -> "some/model"']
    assert result.sections()["upstream"] == ["sft: only a depends on it (5f70000001)"]


def test_code_snapshots_commits_dirty_flags_and_files(tmp_path):
    code_a = make_snapshot(tmp_path, {"runtime/tasks/sft.py": "lr = 1\n", "specs/x.py": "x\n",
                                      "launch/old.py": "old\n"}, commit="aaa111", dirty=False)
    code_b = make_snapshot(tmp_path, {"runtime/tasks/sft.py": "lr = 2\n", "specs/x.py": "x\n",
                                      "launch/new.py": "new\n"}, commit="bbb222", dirty=True)
    a = make_run(tmp_path, "a", "aaaa000001", code=code_a)
    b = make_run(tmp_path, "b", "bbbb000002", code=code_b)
    result = diff(a, b, code_diff=True)
    code = result.code
    assert fields(code.changes) == ["snapshot", "commit", "dirty"]
    assert (code.added, code.removed, code.changed) == (["launch/new.py"], ["launch/old.py"], ["runtime/tasks/sft.py"])
    assert result.sections()["code"] == [
        f'snapshot: "{code_a["id"]}" -> "{code_b["id"]}"', 'commit: "aaa111" -> "bbb222"', "dirty: false -> true",
        "1 file added: launch/new.py", "1 file removed: launch/old.py", "1 file changed: runtime/tasks/sft.py"]
    assert "--- a/runtime/tasks/sft.py\n+++ b/runtime/tasks/sft.py\n" in code.patch
    assert "-lr = 1\n+lr = 2\n" in code.patch and "+new\n" in code.patch and "-old\n" in code.patch
    assert code.patch in result.text()
    # without --code-diff: the list of files only
    assert diff(a, b).code.patch == ""
    # the same snapshot: nothing to say
    same = diff(a, make_run(tmp_path, "c", "cccc000003", code=code_a))
    assert not same.code.differs and "code" not in same.sections()


def test_code_snapshot_missing_or_not_recorded_is_said(tmp_path):
    code_a = make_snapshot(tmp_path, {"runtime/a.py": "a\n"})
    gone = {"id": "0123456789abcdef", "dir": str(tmp_path / "gone")}
    a = make_run(tmp_path, "a", "aaaa000001", code=code_a)
    b = make_run(tmp_path, "b", "bbbb000002", code=gone)
    lines = diff(a, b).sections()["code"]
    assert f"the code snapshot 0123456789abcdef of run b is not at {tmp_path / 'gone'}" in lines[-1]
    old = make_run(tmp_path, "old", "cccc000003", git=("d00d", False))
    lines = diff(a, old).sections()["code"]
    assert lines == ['commit: "c0ffee" -> "d00d"', "no code snapshot recorded for run b (provenance.json names none)"]
    neither = diff(make_run(tmp_path, "d", "dddd000004", git=("c0ffee", True)),
                   make_run(tmp_path, "e", "eeee000005", git=("c0ffee", False)))
    assert fields(neither.code.changes) == ["dirty"]


def test_environment_packages_python_cuda_gpus_hosts(tmp_path):
    a = make_run(tmp_path, "a", "aaaa000001", env=environment())
    b = make_run(tmp_path, "b", "bbbb000002", env=environment(torch="2.14.0", python="3.12.1", cuda=None,
                                                              gpus={"model": "H200", "count": 4}, hosts=["n2"],
                                                              deepspeed="0.16.0", recorded_at=2.0))
    result = diff(a, b)
    assert fields(result.environment) == ["cuda", "gpus.model", "hosts", "packages.deepspeed", "packages.torch",
                                          "python"]
    lines = result.sections()["environment"]
    assert 'packages.torch: "2.13.0" -> "2.14.0"' in lines and 'packages.deepspeed: (absent) -> "0.16.0"' in lines
    assert 'cuda: "12.4" -> null' in lines and 'hosts: ["n1"] -> ["n2"]' in lines
    c = make_run(tmp_path, "c", "cccc000003")
    assert diff(a, c).sections()["environment"] == [
        "not recorded for run b (environment.json is written when a run starts)"]


def test_cli_by_run_dir_by_id_and_name_and_json(tmp_path):
    a = make_run(tmp_path, "dpo__beta=0.1", "aaaa000001", beta=0.1)
    b = make_run(tmp_path, "dpo__beta=0.3", "bbbb000002", beta=0.3)
    with Ledger(tmp_path) as ledger:
        ledger.upsert_planned(EXP, [("aaaa000001", "dpo__beta=0.1", "dpo", str(a), (), 1, {}),
                                    ("bbbb000002", "dpo__beta=0.3", "dpo", str(b), (), 1, {})], {})
    code, out, err = run_cli("diff", a, b)
    assert code == 0, err
    assert "\nconfig\n  task_config.dpo.beta: 0.1 -> 0.3\n" in out
    code, out2, err = run_cli("diff", "aaaa", "dpo__beta=0.3", "--root", tmp_path)
    assert code == 0, err
    assert out2 == out
    code, out, err = run_cli("diff", a, "bbbb000002", "--root", tmp_path, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"config", "code", "environment", "upstream"}
    assert data["config"] == [{"field": "task_config.dpo.beta", "a": 0.1, "b": 0.3}]
    assert data["a"]["id"] == "aaaa000001" and data["differs"] is True


def test_cli_errors_name_the_argument_and_what_to_do(tmp_path):
    a = make_run(tmp_path, "a", "aaaa000001")
    with Ledger(tmp_path) as ledger:
        ledger.upsert_planned(EXP, [("aaaa000001", "a", "dpo", str(a), (), 1, {})], {})
    code, out, err = run_cli("diff", a, "nosuchrun", "--root", tmp_path)
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith("error: RUN_B: no run 'nosuchrun' in the ledger") and "labspec status --root" in err
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    code, _, err = run_cli("diff", empty, a)
    assert code == 1 and err == (f"error: RUN_A: {empty} has no run.json, so it is not a run dir; give a run dir, "
                                 "or a run id or name (`labspec status` lists them)\n")
    code, _, err = run_cli("diff", a, "somerun", "--root", tmp_path / "nowhere")
    assert code == 1 and "RUN_B: 'somerun' is not a run dir, and there is no ledger under" in err
    assert "--root" in err and err.count("\n") == 1
    code, _, err = run_cli("diff", a, tmp_path / "missing" / "dir")
    assert code == 1 and err.startswith(f"error: RUN_B: no directory {tmp_path / 'missing' / 'dir'}")


@pytest.mark.parametrize("example", ["sft-tiny.yaml"])
def test_a_compiled_sweep_differs_exactly_in_the_swept_field(tmp_path, example):
    out_root = tmp_path / "runs"
    code, _, err = run_cli("compile", EXAMPLES / example, "-o", "sweep.grid.training.lr=[1e-3,3e-3]",
                           "--emit", out_root)
    assert code == 0, err
    dirs = {p.name.rsplit("-", 1)[0]: p for p in (out_root / "sft-tiny").iterdir()}
    assert set(dirs) == {"sft__lr=0.001", "sft__lr=0.003", "evaluate__lr=0.001", "evaluate__lr=0.003"}
    train = diff(dirs["sft__lr=0.001"], dirs["sft__lr=0.003"])
    assert [c.text() for c in train.config] == ["training.lr: 0.001 -> 0.003"]
    assert train.upstream == []
    evaluate = diff(dirs["evaluate__lr=0.001"], dirs["evaluate__lr=0.003"])
    assert evaluate.config == []  # its model is <upstream sft>/checkpoints/final on both sides
    (up,) = evaluate.upstream
    assert up.label == "sft" and up.detail is not None
    assert [c.text() for c in up.detail.config] == ["training.lr: 0.001 -> 0.003"]
