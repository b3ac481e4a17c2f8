"""Kind `evaluate`: one evaluation."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode
from specs.kinds.evaluate import EvaluateExperiment


def stages(exp: EvaluateExperiment) -> list[StageNode]:
    return [StageNode("evaluate", "evaluate", common.evaluation(exp, exp.evaluation, common.model(exp.model)),
                      role="evaluate", coordinates={"split": "test"})]
