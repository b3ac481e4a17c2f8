"""The `sft` task for real: TRL's SFTTrainer on DeepSpeed (ZeRO-2 and ZeRO-3 with two
CPU processes under torchrun, and a single process), TensorBoard events read back with
tensorboard's own reader, and resume after a real SLURM signal."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from tests.launch_helpers import metrics, preempt_when, run_cli, status

pytestmark = pytest.mark.slow

SPEC = """\
name: {name}
kind: sft
output_root: {root}
model: {{name_or_path: {assets}/tiny-lm, dtype: fp32}}
data: {{train: {assets}/tiny-chat/train.jsonl}}
training: {{lr: 3.0e-3, max_steps: {steps}, global_batch_size: 8, micro_batch_size: 4, precision: fp32,
           max_length: 64, logging_steps: 5, save_steps: {save}{training_extra}}}
deepspeed: {{enabled: {ds}, zero_stage: {zero}}}
resources: {{gpus_per_node: 0, procs_per_node: {procs}, cpus_per_task: 2, time: 30}}
launcher: {launcher}
"""


def sft_spec(tmp_path: Path, assets: Path, name: str, zero: int = 2, procs: int = 2, steps: int = 20,
             save: int = 10, ds: bool = True, training_extra: str = "") -> Path:
    launcher = "torchrun" if procs > 1 or ds else "python"
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, root=tmp_path / "runs", assets=assets, zero=zero, procs=procs,
                                steps=steps, save=save, ds=str(ds).lower(), launcher=launcher,
                                training_extra=training_extra))
    return path


def tb_scalars(run_dir: str, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(run_dir, "tb")))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.mark.parametrize("zero", [0, 1, 2, 3])
def test_sft_on_two_cpu_processes_with_deepspeed(tmp_path, tiny_assets, zero):
    spec = sft_spec(tmp_path, tiny_assets, f"sft-z{zero}", zero=zero)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", f"sft-z{zero}")
    assert row["state"] == "COMPLETED"
    assert metrics(row)["train_loss"] > 0
    loss = tb_scalars(row["run_dir"], "train/loss")
    assert [s for s, _ in loss] == [5, 10, 15, 20] and loss[-1][1] < loss[0][1]  # it learns
    ckpt = Path(row["run_dir"], "checkpoints")
    assert (ckpt / "checkpoint-20" / "global_step20").is_dir()  # DeepSpeed's own state
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(ckpt / "final")  # usable, also after ZeRO-3
    assert sum(p.numel() for p in model.parameters()) > 50_000
    ds = json.loads(Path(row["run_dir"], "deepspeed.json").read_text())
    assert ds["zero_optimization"]["stage"] == zero and ds["gradient_accumulation_steps"] == 1


def test_sft_in_a_single_process_without_deepspeed(tmp_path, tiny_assets):
    spec = sft_spec(tmp_path, tiny_assets, "sft-single", procs=1, ds=False, steps=10, save=5)
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "sft-single")
    assert row["state"] == "COMPLETED" and metrics(row)["train_loss"] > 0
    assert not list(Path(row["run_dir"], "checkpoints", "checkpoint-10").glob("global_step*"))


def test_a_lora_run_leaves_a_plain_model_for_the_next_stage(tmp_path, tiny_assets):
    spec = sft_spec(tmp_path, tiny_assets, "sft-lora", procs=1, ds=False, steps=10, save=10)
    spec.write_text(spec.read_text() + "peft: {enabled: true, r: 4, alpha: 8, target_modules: [q_proj, v_proj]}\n")
    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "sft-lora")
    final = Path(row["run_dir"], "checkpoints", "final")
    assert (final / "config.json").exists() and not (final / "adapter_config.json").exists()
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(final)
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_sft_input_errors_name_the_file_and_field(tmp_path, tiny_assets):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n')
    spec = sft_spec(tmp_path, tiny_assets, "sft-bad", procs=1, ds=False, steps=2, save=1)
    spec.write_text(spec.read_text().replace(f"{tiny_assets}/tiny-chat/train.jsonl", str(bad)))
    code, _, _ = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 1
    (row,) = status(tmp_path / "runs", "sft-bad")
    log = Path(row["run_dir"], "logs", "node0.err").read_text()
    assert f"{bad} has no column " in log and "'prompt'" in log and "data.prompt_field" in log


def test_sft_resumes_after_a_slurm_signal_and_ends_at_the_planned_step(tmp_path, tiny_assets, slurm_cluster):
    spec = sft_spec(tmp_path, tiny_assets, "sft-requeue", procs=1, zero=2, steps=400, save=50)
    assert run_cli("launch", spec, "--yes")[0] == 0
    rows = preempt_when(tmp_path / "runs", "sft-requeue",
                        lambda row: Path(row["run_dir"], "checkpoints", "checkpoint-50").exists())
    (row,) = rows.values()
    ckpt = Path(row["run_dir"], "checkpoints")
    assert row["state"] == "COMPLETED", row
    log = Path(row["run_dir"], "logs", "node0.out").read_text() + Path(row["run_dir"], "logs",
                                                                       "node0.err").read_text()
    assert "stopping at step" in log
    m = metrics(row)
    assert m["resumed_from"] and "checkpoint-" in m["resumed_from"]
    state = json.loads((ckpt / "checkpoint-400" / "trainer_state.json").read_text())
    assert state["global_step"] == 400  # the planned step count
    steps = [s for s, _ in tb_scalars(row["run_dir"], "train/loss")]
    assert steps[-1] == 400 and set(range(5, 401, 5)) <= set(steps)  # the curve continues, no gap


def test_two_ranks_stop_at_the_same_step_when_only_one_gets_the_signal(tmp_path, tiny_assets):
    """The ranks compare their flags every `stop_check_steps` steps only (no device sync on the
    others); a signal that reaches one rank still stops both at the same step, with a
    checkpoint there, and launching again resumes from it to the planned step."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    every, planned = 7, 120
    spec = sft_spec(tmp_path, tiny_assets, "sft-agree", procs=2, zero=2, steps=planned, save=20,
                    training_extra=f", stop_check_steps: {every}")
    labspec = Path(sys.executable).parent / "labspec"
    launch = subprocess.Popen([str(labspec), "launch", str(spec), "--executor", "local", "--yes"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        while not list((tmp_path / "runs").glob("sft-agree/*/checkpoints/checkpoint-20/trainer_state.json")):
            assert launch.poll() is None and time.time() < deadline, "no checkpoint-20 to signal after"
            time.sleep(0.2)

        def rank(proc: psutil.Process) -> str | None:
            with contextlib.suppress(psutil.Error):
                if "runtime" in proc.cmdline():
                    return proc.environ().get("RANK")
            return None

        (second,) = [p for p in psutil.Process(launch.pid).children(recursive=True) if rank(p) == "1"]
        os.kill(second.pid, signal.SIGUSR2)  # rank 1 only; rank 0 never sees a signal
        out, _ = launch.communicate(timeout=240)
    finally:
        if launch.poll() is None:
            launch.kill()
    (row,) = status(tmp_path / "runs", "sft-agree")
    assert row["state"] == "INTERRUPTED", out
    log = Path(row["run_dir"], "logs", "node0.out").read_text()
    stops = [int(line.rsplit("step ", 1)[1].split()[0]) for line in log.splitlines() if "sft: stopping at step" in line]
    assert len(stops) == 2 and stops[0] == stops[1], log  # both ranks, one step
    stop = stops[0]
    assert 20 < stop < planned and (stop - 1) % every == 0  # a checking step: 1, 1 + every, ...
    ckpt = Path(row["run_dir"], "checkpoints")
    assert json.loads((ckpt / f"checkpoint-{stop}" / "trainer_state.json").read_text())["global_step"] == stop

    code, _, err = run_cli("launch", spec, "--executor", "local", "--yes")
    assert code == 0, err
    (row,) = status(tmp_path / "runs", "sft-agree")
    assert row["state"] == "COMPLETED"
    assert metrics(row)["resumed_from"].endswith(f"checkpoint-{stop}")
    assert json.loads((ckpt / f"checkpoint-{planned}" / "trainer_state.json").read_text())["global_step"] == planned
