"""Kind `dpo`: dpo -> (evaluate)."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import Ref, StageNode
from specs.kinds.dpo import DPOExperiment


def stages(exp: DPOExperiment) -> list[StageNode]:
    nodes = [StageNode("dpo", "dpo", "dpo", {
        "model": common.model(exp.model),
        # under LoRA the reference is the base with adapters disabled (None)
        "reference": exp.dpo.reference or (None if exp.peft.enabled else exp.model.name_or_path),
        "pairs": exp.data.train,
        "fields": common.data(exp),
        "dpo": exp.dpo.model_dump(mode="json"),
    })]
    if exp.evaluation is not None:
        nodes.append(StageNode("evaluate", "evaluate", "evaluate", common.evaluation(
            exp, exp.evaluation, common.model(exp.model, Ref("dpo", "model")))))
    return nodes
