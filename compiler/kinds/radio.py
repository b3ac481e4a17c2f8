"""Kind `radio`: distill -> evaluate encoder; per encoder variant, LLaVA-1.5's two stages
(projector on captions, then projector + LM on instructions) -> evaluate."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode, ref
from specs.kinds.radio import RadioExperiment
from specs.tasks import ModelRef, VisionPrompt
from specs.tasks.radio import DistillTask, EncoderChoice, EncoderEvalTask, MLLMTask


def encoder(exp: RadioExperiment, variant: str) -> EncoderChoice:
    teachers = exp.radio.teachers
    if variant == "student":
        return EncoderChoice(type="student", path=ref("distill", "model"))
    if variant == "concat":
        return EncoderChoice(type="concat", teachers=teachers)
    return EncoderChoice(type="teacher", teachers=[t for t in teachers if t.name == variant])


def stages(exp: RadioExperiment) -> list[StageNode]:
    r = exp.radio
    nodes = [
        StageNode("distill", "distill", DistillTask(teachers=r.teachers, student=r.student, distill=r.distill),
                  role="train"),
        StageNode("evaluate_encoder", "evaluate_encoder", EncoderEvalTask(
            encoder=encoder(exp, "student"), teachers=r.teachers, evaluation=r.encoder_evaluation),
            role="evaluate_encoder", coordinates={"variant": "student"}),
    ]
    llm = ModelRef(name_or_path=r.mllm.llm)  # exp.model describes the student, not the language model
    for variant in r.mllm.variants:
        pretrain_update: dict[str, object] = {"lr": r.mllm.pretrain_lr}
        if r.mllm.pretrain_steps:
            pretrain_update["max_steps"] = r.mllm.pretrain_steps
        where = {"variant": variant}
        nodes += [
            StageNode(f"mllm_pretrain_{variant}", "mllm", MLLMTask(
                phase="pretrain", encoder=encoder(exp, variant), mllm=r.mllm, llm=llm, data=r.mllm.pretrain_data),
                role="pretrain", coordinates=where, training_update=pretrain_update),
            StageNode(f"mllm_{variant}", "mllm", MLLMTask(
                phase="finetune", encoder=encoder(exp, variant), mllm=r.mllm, llm=llm, data=r.mllm.finetune_data,
                init=ref(f"mllm_pretrain_{variant}", "model")), role="train", coordinates=where),
            StageNode(f"evaluate_mllm_{variant}", "evaluate_mllm", common.evaluation(
                exp, r.mllm.evaluation, ModelRef(name_or_path=ref(f"mllm_{variant}", "model")),
                common.produced(r.mllm.eval_data, prompt_field="question", completion_field="answer",
                                image_field="image"),
                "mllm", VisionPrompt(image_field="image", prompt_field="question", answer_field="answer")),
                role="evaluate", coordinates={**where, "split": "test"}),
        ]
    return nodes
