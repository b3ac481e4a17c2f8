"""Kind `sft`: sft -> (evaluate)."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import Ref, StageNode
from specs.kinds.sft import SFTExperiment


def stages(exp: SFTExperiment) -> list[StageNode]:
    nodes = [StageNode("sft", "sft", "sft", {
        "model": common.model(exp.model),
        "fields": common.data(exp),
        "sft": exp.sft.model_dump(mode="json"),
    })]
    if exp.evaluation is not None:
        nodes.append(StageNode("evaluate", "evaluate", "evaluate", common.evaluation(
            exp, exp.evaluation, common.model(exp.model, Ref("sft", "model")))))
    return nodes
