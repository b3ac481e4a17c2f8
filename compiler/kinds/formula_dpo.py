"""Kind `formula_dpo`: prepare -> sft -> evaluate(train, test) -> mine -> dpo -> evaluate."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import Ref, StageNode
from specs.kinds.formula_dpo import FormulaDPOExperiment


def stages(exp: FormulaDPOExperiment) -> list[StageNode]:
    f = exp.formula
    vision = {"prompt": f.prompt, "image_field": "image", "answer_field": "latex"}
    nodes = [StageNode("prepare", "prepare", "formula_data", {"dataset": f.dataset.model_dump(mode="json")})]
    if f.skip_sft:
        tuned: str | Ref = exp.model.name_or_path
    else:
        nodes.append(StageNode("sft", "sft", "sft", {
            "model": common.model(exp.model),
            "train_data": Ref("prepare", "train"),
            "vision": vision,
            "sft": f.sft.model_dump(mode="json"),
        }))
        tuned = Ref("sft", "model")
    tuned_model = common.model(exp.model, tuned)
    mining = f.mining
    mining_eval = f.evaluation.model_copy(update={"max_samples": mining.max_images or f.evaluation.max_samples})
    nodes += [
        StageNode("evaluate_sft_train", "evaluate", "evaluate", common.evaluation(
            exp, mining_eval, tuned_model, Ref("prepare", "train"), evaluator="formula", vision=vision,
            extra_samples=mining.extra_samples, extra_temperature=mining.temperature)),
        StageNode("evaluate_sft_test", "evaluate", "evaluate", common.evaluation(
            exp, f.evaluation, tuned_model, Ref("prepare", "test"), evaluator="formula", vision=vision,
            subsets=f.dataset.test_subsets)),
        StageNode("mine", "mine", "mine_pairs", {
            "predictions": Ref("evaluate_sft_train", "predictions"),
            "mining": mining.model_dump(mode="json"),
            "prompt": f.prompt,
        }),
        StageNode("dpo", "dpo", "dpo", {
            "model": tuned_model,
            "reference": None if exp.peft.enabled else tuned,
            "pairs": Ref("mine", "pairs"),
            "vision": vision,
            "dpo": f.dpo.model_dump(mode="json"),
        }),
        StageNode("evaluate_dpo_test", "evaluate", "evaluate", common.evaluation(
            exp, f.evaluation, common.model(exp.model, Ref("dpo", "model")), Ref("prepare", "test"),
            evaluator="formula", vision=vision, subsets=f.dataset.test_subsets,
            baseline=Ref("evaluate_sft_test", "metrics"))),
    ]
    return nodes
