"""Kind `sft`: sft -> (evaluate)."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode, ref
from specs.errors import CompileError
from specs.kinds.sft import SFTExperiment
from specs.tasks.generic import SFTTask


def stages(exp: SFTExperiment) -> list[StageNode]:
    if exp.data.train is None:
        raise CompileError("sft needs training data: set data.train")
    nodes = [StageNode("sft", "sft", SFTTask(model=common.model(exp.model), data=common.dataset(exp, exp.data.train),
                                             sft=exp.sft), role="train")]
    if exp.evaluation is not None:
        nodes.append(StageNode("evaluate", "evaluate", common.evaluation(
            exp, exp.evaluation, common.model(exp.model, ref("sft", "model"))), role="evaluate",
            coordinates={"split": "test"}))
    return nodes
