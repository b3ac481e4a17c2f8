"""A stage's generation backend checked against how the stage runs, before anything is
submitted: vLLM owns all of a job's GPUs from one process on one node, and runs in an
environment that has it (`stages.<type>.python`, built by scripts/setup_vllm.sh).

Why here and not at validation: these depend on the compiled stage (its resources after
overrides and tiers, its launcher, its interpreter), which only the compiler has.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from pydantic import BaseModel

from specs.errors import CompileError
from specs.sections import GenerationSettings, ResourcesSpec, VLLMSettings
from specs.tasks.generic import EvaluateTask, GenerateTask, GRPOTask
from specs.tasks.reasoning import FilterChainsTask, PlanSolveTask
from specs.tasks.size_ladder import BenchmarkTask

# evaluators that load a model class of labspec's own (the LLaVA-style MLLM), which vLLM has no
# implementation of
OWN_MODEL_CLASSES = {"mllm": "labspec's LLaVA-style MLLM (runtime.radio.mllm)"}


def vllm_uses(config: BaseModel, where: str = "") -> list[tuple[str, VLLMSettings]]:
    """(field path, vLLM settings) of every place in a task config that asks for vLLM."""
    if isinstance(config, GenerationSettings):
        return [(where, config.vllm)] if config.backend == "vllm" else []
    if getattr(config, "backend", None) == "vllm" and isinstance(getattr(config, "vllm", None), VLLMSettings):
        # a task's or section's own backend and vllm fields
        return [(f"{where}backend", config.vllm)]  # type: ignore[attr-defined]
    found: list[tuple[str, VLLMSettings]] = []
    for name in type(config).model_fields:
        value: Any = getattr(config, name)
        if isinstance(value, BaseModel):
            found += vllm_uses(value, f"{where}{name}.")
    return found


def fit_to_gpus(config: BaseModel, gpus: int) -> BaseModel:
    """`config` with each vLLM settings whose tensor_parallel_size the spec left unset split
    over the stage's GPUs (after data_parallel_size replicas): a 72B stage on 8 GPUs and a
    0.5B stage on 1 share one route-wide `vllm` section."""
    if isinstance(config, VLLMSettings):
        if "tensor_parallel_size" in config.model_fields_set or gpus <= 1:
            return config
        return config.model_copy(update={"tensor_parallel_size": max(1, gpus // config.data_parallel_size)})
    update = {}
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            fitted = fit_to_gpus(value, gpus)
            if fitted is not value:
                update[name] = fitted
    return config.model_copy(update=update) if update else config


def check_grpo(stage: str, config: GRPOTask, res: ResourcesSpec, python: str) -> None:
    """GRPO's vLLM is TRL's colocate mode: an engine inside every training process, on its
    GPU, so none of the one-engine-per-job rules apply; it needs GPUs and vLLM beside TRL."""
    if config.grpo.backend != "vllm":
        return
    at = f"stage {stage}: grpo.backend asks for TRL's colocated vLLM"
    if res.gpus_per_node == 0:
        raise CompileError(f"{at}, which runs on the training GPUs, but the stage has none; set grpo.backend: hf")
    if python == sys.executable and importlib.util.find_spec("vllm") is None:
        raise CompileError(f"{at}, but the stage runs in {python}, which has no vLLM; set stages.grpo.python to an "
                           "environment with vllm, trl and deepspeed, or grpo.backend: hf")


def check(stage: str, stage_type: str, config: BaseModel, res: ResourcesSpec, launcher: str, python: str) -> None:
    if isinstance(config, GRPOTask):
        check_grpo(stage, config, res, python)
        return
    uses = vllm_uses(config)
    if not uses:
        return
    at = f"stage {stage}: {uses[0][0].rstrip('.')} asks for vLLM"
    if isinstance(config, EvaluateTask) and config.evaluator in OWN_MODEL_CLASSES:
        raise CompileError(f"{at}, but the {config.evaluator!r} evaluator runs {OWN_MODEL_CLASSES[config.evaluator]}, "
                           "which vLLM has no implementation of; set its generation.backend: hf")
    if not isinstance(config, (GenerateTask, EvaluateTask, BenchmarkTask, FilterChainsTask, PlanSolveTask)):
        raise CompileError(f"{at}, but its task ({type(config).__name__}) generates with the model it trains, in "
                           "the same process; set that generation.backend: hf")
    if res.nodes > 1:
        raise CompileError(f"{at}, which runs on one node; set stages.{stage_type}.resources.nodes: 1 (shards "
                           "spread generation over nodes)")
    if res.procs > 1 and launcher != "python":
        raise CompileError(f"{at}: one process drives all of the job's GPUs, but the stage starts {res.procs} "
                           f"({launcher}); set stages.{stage_type}.launcher: python")
    for _, settings in uses:
        if settings.data_parallel_size > 1 and not isinstance(config, BenchmarkTask):
            raise CompileError(f"{at} with data_parallel_size {settings.data_parallel_size}: one engine per job "
                               "here; replicas are array tasks: set generation.shards (one job, one model copy, "
                               "each) and data_parallel_size: 1")
        gpus = max(res.gpus_per_node, 1)
        if settings.gpus() > gpus:
            raise CompileError(
                f"{at} with tensor_parallel_size {settings.tensor_parallel_size} x data_parallel_size "
                f"{settings.data_parallel_size} = {settings.gpus()} GPUs, but the stage has "
                f"{res.gpus_per_node}; set stages.{stage_type}.resources.gpus_per_node: {settings.gpus()}")
    if python == sys.executable and importlib.util.find_spec("vllm") is None:
        raise CompileError(
            f"{at}, but the stage runs in {python}, which has no vLLM. Build its environment with "
            f"scripts/setup_vllm.sh and set stages.{stage_type}.python: .venv-vllm/bin/python (or point it at a "
            "GPU environment with `pip install vllm`)")
