"""Kind `formula_dpo`: prepare -> sft -> evaluate(train, test) -> mine -> dpo -> evaluate."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode, ref
from specs.kinds.formula_dpo import FormulaDPOExperiment
from specs.tasks import VisionPrompt
from specs.tasks.formula_dpo import FormulaDataTask, FormulaEvalOptions, MinePairsTask
from specs.tasks.generic import DPOTask, SFTTask

IMAGE_ROWS = {"image_field": "image", "completion_field": "latex"}  # what formula_data writes


def stages(exp: FormulaDPOExperiment) -> list[StageNode]:
    f = exp.formula
    vision = VisionPrompt(prompt=f.prompt, image_field="image", answer_field="latex")
    train, test = common.produced(ref("prepare", "train"), **IMAGE_ROWS), common.produced(ref("prepare", "test"),
                                                                                            **IMAGE_ROWS)
    nodes = [StageNode("prepare", "prepare", FormulaDataTask(dataset=f.dataset), role="data")]
    if f.skip_sft:
        tuned: str = exp.model.name_or_path
    else:
        nodes.append(StageNode("sft", "sft", SFTTask(model=common.model(exp.model), data=train, sft=f.sft,
                                                     vision=vision), role="train"))
        tuned = ref("sft", "model")
    tuned_model = common.model(exp.model, tuned)
    mining = f.mining
    mining_eval = f.evaluation.model_copy(update={"max_samples": mining.max_images or f.evaluation.max_samples})
    nodes += [
        StageNode("evaluate_sft_train", "evaluate", common.evaluation(
            exp, mining_eval, tuned_model, train, "formula", vision,
            FormulaEvalOptions(extra_samples=mining.extra_samples, extra_temperature=mining.temperature)),
            role="evaluate", coordinates={"split": "train", "model_index": 0}),
        StageNode("evaluate_sft_test", "evaluate", common.evaluation(
            exp, f.evaluation, tuned_model, test, "formula", vision,
            FormulaEvalOptions(subsets=f.dataset.test_subsets)),
            role="evaluate", coordinates={"split": "test", "model_index": 0}),
        StageNode("mine", "mine", MinePairsTask(predictions=ref("evaluate_sft_train", "predictions"), mining=mining,
                                                prompt=f.prompt), role="pairs"),
        StageNode("dpo", "dpo", DPOTask(
            model=tuned_model, reference=None if exp.peft.enabled else tuned_model,
            pairs=common.produced(ref("mine", "pairs"), image_field="image"), dpo=f.dpo, vision=vision),
            role="train"),
        StageNode("evaluate_dpo_test", "evaluate", common.evaluation(
            exp, f.evaluation, common.model(exp.model, ref("dpo", "model")), test, "formula", vision,
            FormulaEvalOptions(subsets=f.dataset.test_subsets, baseline=ref("evaluate_sft_test", "metrics"))),
            role="evaluate", coordinates={"split": "test", "model_index": 1}),
    ]
    return nodes
