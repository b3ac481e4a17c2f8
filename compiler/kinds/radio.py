"""Kind `radio`: distill -> evaluate encoder; per encoder variant: mllm -> evaluate."""

from __future__ import annotations

from typing import Any

from compiler.nodes import Ref, StageNode
from specs.kinds.radio import RadioExperiment


def stages(exp: RadioExperiment) -> list[StageNode]:
    r = exp.radio
    teachers = [t.model_dump(mode="json") | {"has_summary": t.has_summary} for t in r.teachers]
    nodes = [
        StageNode("distill", "distill", "distill", {
            "teachers": teachers,
            "student": r.student.model_dump(mode="json"),
            "distill": r.distill.model_dump(mode="json"),
        }),
        StageNode("evaluate_encoder", "evaluate_encoder", "encoder_eval", {
            "encoder": {"type": "student", "path": Ref("distill", "model")},
            "teachers": teachers,
            "evaluation": r.encoder_evaluation.model_dump(mode="json"),
        }),
    ]
    for variant in r.mllm.variants:
        encoder: dict[str, Any]
        if variant == "student":
            encoder = {"type": "student", "path": Ref("distill", "model")}
        elif variant == "concat":
            encoder = {"type": "concat", "teachers": teachers}
        else:
            encoder = {"type": "teacher", "teacher": next(t for t in teachers if t["name"] == variant)}
        nodes += [
            StageNode(f"mllm_{variant}", "mllm", "mllm", {
                "encoder": encoder,
                "mllm": r.mllm.model_dump(mode="json"),
            }),
            StageNode(f"evaluate_mllm_{variant}", "evaluate_mllm", "evaluate", {
                "model": {"name_or_path": Ref(f"mllm_{variant}", "model"), "kind": "mllm"},
                "data": r.mllm.eval_data,
                "evaluator": "mllm",
                "variant": variant,
            }),
        ]
    return nodes
