"""Kind `radio`: distill -> evaluate encoder; per encoder variant, LLaVA-1.5's two stages
(projector on captions, then projector + LM on instructions) -> evaluate."""

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
        mllm = r.mllm.model_dump(mode="json")
        pretrain_update: dict[str, Any] = {"lr": r.mllm.pretrain_lr}
        if r.mllm.pretrain_steps:
            pretrain_update["max_steps"] = r.mllm.pretrain_steps
        nodes += [
            StageNode(f"mllm_pretrain_{variant}", "mllm", "mllm", {
                "phase": "pretrain", "encoder": encoder, "mllm": mllm, "data": r.mllm.pretrain_data,
            }, training_update=pretrain_update),
            StageNode(f"mllm_{variant}", "mllm", "mllm", {
                "phase": "finetune", "init": Ref(f"mllm_pretrain_{variant}", "model"), "encoder": encoder,
                "mllm": mllm, "data": r.mllm.finetune_data,
            }),
            StageNode(f"evaluate_mllm_{variant}", "evaluate_mllm", "evaluate", {
                "model": {"name_or_path": Ref(f"mllm_{variant}", "model")},
                "data": r.mllm.eval_data,
                "evaluator": "mllm",
                "vision": {"image_field": "image", "prompt_field": "question", "answer_field": "answer"},
                "evaluation": r.mllm.evaluation.model_dump(mode="json"),
                "variant": variant,
            }),
        ]
    return nodes
