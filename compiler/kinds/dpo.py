"""Kind `dpo`: dpo -> (evaluate)."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode, ref
from specs.errors import CompileError
from specs.kinds.dpo import DPOExperiment
from specs.tasks.generic import DPOTask


def stages(exp: DPOExperiment) -> list[StageNode]:
    if exp.data.train is None:
        raise CompileError("dpo needs a preference file: set data.train (JSONL of prompt/chosen/rejected)")
    # under LoRA the reference is the base with adapters disabled (None)
    reference = exp.dpo.reference or (None if exp.peft.enabled else exp.model.name_or_path)
    nodes = [StageNode("dpo", "dpo", DPOTask(
        model=common.model(exp.model),
        reference=common.model(exp.model, reference) if reference is not None else None,
        pairs=common.dataset(exp, exp.data.train), dpo=exp.dpo), role="train")]
    if exp.evaluation is not None:
        nodes.append(StageNode("evaluate", "evaluate", common.evaluation(
            exp, exp.evaluation, common.model(exp.model, ref("dpo", "model"))), role="evaluate",
            coordinates={"split": "test"}))
    return nodes
