"""Kind `size_ladder`: one evaluation per model x intervention, then the ladder table.

Resources grow with the model: an explicit tier from `ladder.tiers`, or else enough GPUs
of `resources.gpu_mem_gb` to hold the weights with 30% headroom (KV cache,
activations), rounded up to a power of two (tensor-parallel degrees must divide the
attention heads).
"""

from __future__ import annotations

import math
from typing import Any

from compiler.nodes import StageNode, ref
from specs.errors import CompileError
from specs.kinds.size_ladder import LadderModel, LocalTask, SizeLadderExperiment
from specs.tasks import ModelRef
from specs.tasks.size_ladder import (
    BenchmarkTask,
    Cell,
    ContaminationProbe,
    JudgedCell,
    JudgeTask,
    LadderAggregateTask,
    TwinsTask,
)

HEADROOM = 1.3
MAX_GPUS_PER_NODE = 8
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}


def gpus_for(model: LadderModel, exp: SizeLadderExperiment) -> dict[str, Any]:
    for tier in exp.ladder.tiers:
        if model.size <= tier.max_params:
            update: dict[str, Any] = {"gpus_per_node": tier.gpus, "procs_per_node": 1}
            if tier.mem is not None:
                update["mem"] = tier.mem
            return update
    res = exp.stage_resources("evaluate")
    if res.gpu_mem_gb is None or res.gpus_per_node == 0:
        return {"procs_per_node": 1}
    need = model.size * DTYPE_BYTES[model.dtype] * HEADROOM / (res.gpu_mem_gb * 1e9)
    gpus = 1 << max(math.ceil(math.log2(max(need, 1.0))), 0)
    if gpus > MAX_GPUS_PER_NODE:
        raise CompileError(
            f"ladder model {model.name!r} needs ~{need:.0f} GPUs of {res.gpu_mem_gb:g} GB for its weights, more "
            f"than one node's {MAX_GPUS_PER_NODE}; add a ladder.tiers entry or raise resources.gpu_mem_gb")
    return {"gpus_per_node": gpus, "procs_per_node": 1}


def stages(exp: SizeLadderExperiment) -> list[StageNode]:
    lad = exp.ladder
    nodes: list[StageNode] = []
    probe = _twins(exp, nodes)
    cells: list[Cell] = []
    judged: list[JudgedCell] = []
    fluency = lad.fluency
    for m in lad.models:
        for iv in lad.interventions:
            name = f"eval_{m.name}_{iv.name}"
            resources = gpus_for(m, exp)
            nodes.append(StageNode(name, "evaluate", BenchmarkTask(
                model=ModelRef(name_or_path=m.name_or_path, dtype=m.dtype), suites=lad.suites, intervention=iv,
                chat_template=lad.chat_template and m.variant == "instruct", limit=lad.limit,
                batch_size=lad.batch_size, backend=lad.backend,
                vllm=lad.vllm, contamination=probe, fluency=fluency is not None,
                fluency_text=fluency.text if fluency is not None else None),
                role="evaluate", coordinates={"model": m.name, "size": m.size, "intervention": iv.name},
                resources_update=resources))
            cells.append(Cell(model=m.name, size=m.size, intervention=iv.name, type=iv.type,
                              metrics=ref(name, "metrics")))
            judged.append(JudgedCell(model=m.name, intervention=iv.name, samples=ref(name, "samples")))
    judge = None
    if fluency is not None:
        model = next((m for m in lad.models if m.name == fluency.judge), None) or max(lad.models, key=lambda m: m.size)
        nodes.append(StageNode("judge", "evaluate", JudgeTask(
            model=ModelRef(name_or_path=model.name_or_path, dtype=model.dtype), cells=judged,
            batch_size=lad.batch_size), role="judge", coordinates={"model": model.name, "size": model.size},
            resources_update=gpus_for(model, exp)))
        judge = ref("judge", "judge")
    nodes.append(StageNode("aggregate", "aggregate", LadderAggregateTask(
        cells=cells, abilities={s.name: s.ability for s in lad.suites}, judge=judge), role="aggregate"))
    return nodes


def _twins(exp: SizeLadderExperiment, nodes: list[StageNode]) -> ContaminationProbe | None:
    """The twins stage, when the spec asks for contamination-aware scores, and what each cell
    then scores besides its suites."""
    spec = exp.ladder.contamination
    if spec is None:
        return None
    task = next(t for s in exp.ladder.suites for t in s.tasks if isinstance(t, LocalTask) and t.name == spec.task)
    nodes.append(StageNode("twins", "aggregate", TwinsTask(
        data=task.path, question_field=spec.question_field, rationale_field=spec.rationale_field, seed=spec.seed),
        role="twins", launcher="python"))
    return ContaminationProbe(task=task.model_copy(update={"answer_field": "gold"}),
                              originals=ref("twins", "originals"), twins=ref("twins", "twins"),
                              question_field=spec.question_field, min_k=spec.min_k)
