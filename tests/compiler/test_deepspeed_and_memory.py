"""DeepSpeed config derivation and the per-GPU memory estimate."""

from __future__ import annotations

import pytest

from compiler import compile
from compiler.deepspeed import derive
from compiler.memory import GIB, params_from_config, training_states
from specs import SpecError, load_spec, load_text
from specs.sections import DeepSpeedSpec, OffloadDevice, TrainingSpec
from tests.conftest import MINIMAL


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_batch_sizes_and_zero_sections(stage):
    ds = derive(TrainingSpec(global_batch_size=64, micro_batch_size=4, precision="bf16"),
                DeepSpeedSpec(zero_stage=stage), world_size=8)
    assert ds["train_batch_size"] == 64
    assert ds["train_micro_batch_size_per_gpu"] == 4
    assert ds["gradient_accumulation_steps"] == 2
    assert ds["train_batch_size"] == ds["train_micro_batch_size_per_gpu"] * ds["gradient_accumulation_steps"] * 8
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["bf16"] == {"enabled": True} and "fp16" not in ds
    assert ds["zero_optimization"].get("stage3_gather_16bit_weights_on_model_save") is (True if stage == 3 else None)


def test_precision_sections():
    fp16 = derive(TrainingSpec(precision="fp16"), DeepSpeedSpec(), 1)
    assert fp16["fp16"]["enabled"] and fp16["fp16"]["loss_scale"] == 0 and "bf16" not in fp16
    fp32 = derive(TrainingSpec(precision="fp32"), DeepSpeedSpec(), 1)
    assert "fp16" not in fp32 and "bf16" not in fp32


def test_offload_and_passthrough_merged_last():
    ds = derive(TrainingSpec(), DeepSpeedSpec(
        zero_stage=3, offload_optimizer=OffloadDevice(device="cpu"), offload_param=OffloadDevice(device="nvme",
                                                                                             nvme_path="/nvme"),
        config={"zero_optimization": {"stage3_prefetch_bucket_size": 123}, "flops_profiler": {"enabled": True}}),
        world_size=1)
    zero = ds["zero_optimization"]
    assert zero["offload_optimizer"] == {"device": "cpu", "pin_memory": True}
    assert zero["offload_param"] == {"device": "nvme", "pin_memory": True, "nvme_path": "/nvme"}
    assert zero["stage3_prefetch_bucket_size"] == 123 and zero["stage"] == 3
    assert ds["flops_profiler"] == {"enabled": True}


def test_deepspeed_rules_point_at_fields():
    bad = MINIMAL + ("deepspeed:\n  zero_stage: 2\n  offload_param: {device: cpu}\n"
                     "  offload_optimizer: {device: nvme}\n"
                     "  config: {train_batch_size: 4, zero_optimization: {stage: 1}}\n")
    with pytest.raises(SpecError) as exc:
        load_text(bad, "ds.yaml")
    by_path = {p.path: p for p in exc.value.problems}
    assert "needs zero_stage: 3" in by_path["deepspeed.offload_param.device"].message
    assert "nvme_path" in by_path["deepspeed.offload_optimizer.nvme_path"].message
    assert "training.global_batch_size" in by_path["deepspeed.config.train_batch_size"].message
    assert "deepspeed.config.zero_optimization.stage" in by_path
    assert by_path["deepspeed.offload_param.device"].line == 9


def test_world_size_comes_from_the_stage_resources(write_spec):
    spec = write_spec(MINIMAL.replace('resources: {gpus_per_node: 2, time: "01:00:00"}',
                                      "resources: {nodes: 2, gpus_per_node: 4, time: 60}")
                      .replace("global_batch_size: 8", "global_batch_size: 64"))
    run = compile(load_spec(spec)).runs[0]
    assert run.deepspeed["gradient_accumulation_steps"] == 4  # 64 / (2 x 8)
    assert run.resources["world_size"] == 8
    assert "--nnodes=2" in run.command and "--nproc-per-node=4" in run.command


def test_deepspeed_disabled_gives_no_config(write_spec):
    run = compile(load_spec(write_spec(MINIMAL + "deepspeed: {enabled: false}\n"))).runs[0]
    assert run.deepspeed is None and run.config["deepspeed_config"] is None


def test_zero_paper_memory_accounting():
    p = 7_500_000_000  # the ZeRO paper's 7.5B example on 64 GPUs: 120 GB, 31.4, 16.6, 1.9
    tr = TrainingSpec(precision="fp16", optimizer="adam")
    gb = {s: training_states(p, tr, DeepSpeedSpec(zero_stage=s), 64).total / 1e9 for s in range(4)}
    assert gb[0] == pytest.approx(120, rel=0.01)
    assert gb[1] == pytest.approx(31.4, rel=0.01)
    assert gb[2] == pytest.approx(16.6, rel=0.01)
    assert gb[3] == pytest.approx(1.9, rel=0.02)
    offloaded = training_states(p, tr, DeepSpeedSpec(zero_stage=3, offload_optimizer=OffloadDevice(device="cpu"),
                                                     offload_param=OffloadDevice(device="cpu")), 64)
    assert offloaded.total < gb[3] * 1e9


def test_memory_warning_when_states_do_not_fit(write_spec):
    spec = write_spec(MINIMAL.replace("model: {name_or_path: some/model}",
                                      "model: {name_or_path: some/model, num_parameters: 7B}")
                      .replace("time:", "gpu_mem_gb: 24, time:") + "deepspeed: {zero_stage: 0}\n")
    plan = compile(load_spec(spec))
    assert any("model states need" in w and "gpu_mem_gb" in w for w in plan.warnings)
    fits = compile(load_spec(spec, ["deepspeed.zero_stage=3", "deepspeed.offload_optimizer.device=cpu",
                                    "deepspeed.offload_param.device=cpu"]))
    assert fits.warnings == ()


def test_parameter_count_from_a_local_config(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({  # Qwen2.5-0.5B's shape: 494M parameters
        "hidden_size": 896, "num_hidden_layers": 24, "vocab_size": 151936, "intermediate_size": 4864,
        "num_attention_heads": 14, "num_key_value_heads": 2, "tie_word_embeddings": True}))
    assert params_from_config(str(tmp_path)) == pytest.approx(494e6, rel=0.02)
    assert params_from_config(str(tmp_path / "missing")) is None


def test_gib_constant():
    assert GIB == 2**30


def test_nvme_optimizer_offload_needs_zero3_and_deepspeed_launcher_one_node():
    text = MINIMAL + "deepspeed: {zero_stage: 2, offload_optimizer: {device: nvme, nvme_path: /nvme}}\n"
    with pytest.raises(SpecError, match="ZeRO-Infinity"):
        load_text(text)
    multi = MINIMAL.replace("gpus_per_node: 2,", "nodes: 2, gpus_per_node: 2,") + "launcher: deepspeed\n"
    with pytest.raises(SpecError, match="use launcher: torchrun"):
        load_text(multi.replace("global_batch_size: 8", "global_batch_size: 16"))


def test_optimizer_offload_brings_deepspeeds_adam():
    ds = derive(TrainingSpec(lr=3e-4, weight_decay=0.1), DeepSpeedSpec(
        zero_stage=2, offload_optimizer=OffloadDevice(device="cpu")), 1)
    assert ds["optimizer"] == {"type": "AdamW", "params": {"lr": 3e-4, "betas": [0.9, 0.999], "eps": 1e-8,
                                                           "weight_decay": 0.1}}
    assert "optimizer" not in derive(TrainingSpec(), DeepSpeedSpec(zero_stage=2), 1)


def test_generation_and_dpo_settings_that_cannot_work_are_spec_errors():
    with pytest.raises(SpecError, match="needs sampling"):
        load_text(MINIMAL + "evaluation: {generation: {num_samples: 4}}\n")
    with pytest.raises(SpecError, match="one weight per loss"):
        load_text(MINIMAL.replace("kind: sft", "kind: dpo") + "dpo: {loss_type: [sigmoid, sft], loss_weights: [1]}\n")
    with pytest.raises(SpecError, match="not a regular expression"):
        load_text(MINIMAL + "evaluation: {answer_regex: '(unclosed'}\n")
