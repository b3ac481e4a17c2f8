"""Kind `spin`: for t in 0..T-1: generate(model_t) -> pairs -> train model_{t+1} against
model_t -> evaluate. The reference (opponent) of iteration t is model_t itself.

Every iteration's figures also go on one TensorBoard timeline (step = the model index:
0 = the start, t+1 = the model iteration t trained), under SPIN's names."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode, ref
from specs.errors import CompileError
from specs.kinds.spin import SpinExperiment
from specs.sections import DPOSettings
from specs.tasks import Timeline
from specs.tasks.generic import DPOTask, GenerateTask, SFTTask
from specs.tasks.spin import SpinPairsTask

TRAIN_TAGS = {"rewards/chosen": "rewards/real", "rewards/rejected": "rewards/generated",
              "rewards/margins": "margins", "rewards/accuracies": "accuracy", "train_loss": "loss"}
PAIRS_TAGS = {"pairs": "data/pairs", "new_pairs": "data/new_pairs", "identical_to_gold": "data/identical_to_gold"}


def timeline(step: int, prefix: str = "spin/", tags: dict[str, str] | None = None) -> Timeline:
    return common.timeline(step, prefix, tags)


def stages(exp: SpinExperiment) -> list[StageNode]:
    s = exp.spin
    if exp.data.train is None:
        raise CompileError("SPIN needs the SFT data: set data.train")  # refused at validation already
    train_data = common.dataset(exp, exp.data.train)
    nodes: list[StageNode] = []
    current: str = exp.model.name_or_path
    if s.sft is not None:
        nodes.append(StageNode("sft", "sft", SFTTask(model=common.model(exp.model), data=train_data, sft=s.sft),
                               role="train", coordinates={"model_index": 0}))
        current = ref("sft", "model")
    started_from_sft = s.sft is not None
    if s.evaluation is not None:  # the starting point, for before/after
        nodes.append(StageNode("evaluate_start", "evaluate", common.evaluation(
            exp, s.evaluation, common.model(exp.model, current if started_from_sft else None),
            timeline=timeline(0, "spin/heldout/")), role="evaluate", coordinates={"model_index": 0, "split": "test"}))
    for t in range(s.iterations):
        it = s.per_iteration.get(t)
        fraction = it.prompt_fraction if it is not None and it.prompt_fraction is not None else s.prompt_fraction
        gen, pairs, train = f"generate_t{t}", f"pairs_t{t}", f"train_t{t}"
        model_t = common.model(exp.model, current if t > 0 or started_from_sft else None)
        where = {"iteration": t, "model_index": t}
        nodes.append(StageNode(gen, "generate", GenerateTask(
            model=model_t, prompts=train_data, generation=s.generation, prompt_fraction=fraction,
            sample_seed=exp.seed + t), role="generate", coordinates=where, shards=s.generation.shards))
        earlier = {"current": [], "current_and_previous": list(range(max(t - 1, 0), t)),
                   "all": list(range(t))}[s.pairs_from]
        nodes.append(StageNode(pairs, "pairs", SpinPairsTask(
            generations=ref(gen, "generations"), answer_field=exp.data.completion_field,
            previous=[ref(f"pairs_t{i}", "new_pairs") for i in earlier], downsample=s.downsample,
            sample_seed=exp.seed + t, timeline=timeline(t + 1, tags=PAIRS_TAGS)), role="pairs", coordinates=where))
        training_update = {"lr": it.lr} if it is not None and it.lr is not None else {}
        nodes.append(StageNode(train, "train", DPOTask(
            model=model_t, reference=common.model(exp.model, current),  # the opponent: model_t, frozen
            pairs=common.produced(ref(pairs, "pairs")),
            dpo=DPOSettings(beta=it.beta if it is not None and it.beta is not None else s.beta,
                            loss_type=[s.loss_type, "sft"] if s.sft_weight else [s.loss_type],
                            loss_weights=[1.0, s.sft_weight] if s.sft_weight else None,
                            max_prompt_length=s.max_prompt_length),
            timeline=timeline(t + 1, tags=TRAIN_TAGS)), role="train", coordinates=where,
            training_update=training_update))
        current = ref(train, "model")
        if s.evaluation is not None:
            nodes.append(StageNode(f"evaluate_t{t}", "evaluate", common.evaluation(
                exp, s.evaluation, common.model(exp.model, current), timeline=timeline(t + 1, "spin/heldout/")),
                role="evaluate", coordinates={"iteration": t, "model_index": t + 1, "split": "test"}))
    return nodes
