"""Kind `spin`: for t in 0..T-1: generate(model_t) -> pairs -> train model_{t+1} against
model_t -> evaluate. The reference (opponent) of iteration t is model_t itself.

Every iteration's figures also go on one TensorBoard timeline (step = the model index:
0 = the start, t+1 = the model iteration t trained), under SPIN's names."""

from __future__ import annotations

from typing import Any

from compiler.kinds import common
from compiler.nodes import Ref, StageNode
from specs.kinds.spin import SpinExperiment

TRAIN_TAGS = {"rewards/chosen": "rewards/real", "rewards/rejected": "rewards/generated",
              "rewards/margins": "margins", "rewards/accuracies": "accuracy", "train_loss": "loss"}
PAIRS_TAGS = {"pairs": "data/pairs", "new_pairs": "data/new_pairs", "identical_to_gold": "data/identical_to_gold"}


def timeline(step: int, prefix: str = "spin/", tags: dict[str, str] | None = None) -> dict[str, Any]:
    return common.timeline(step, prefix, tags)


def stages(exp: SpinExperiment) -> list[StageNode]:
    s = exp.spin
    nodes: list[StageNode] = []
    current: str | Ref = exp.model.name_or_path
    if s.sft is not None:
        nodes.append(StageNode("sft", "sft", "sft", {
            "model": common.model(exp.model), "fields": common.data(exp), "sft": s.sft.model_dump(mode="json")}))
        current = Ref("sft", "model")
    if s.evaluation is not None:  # the starting point, for before/after
        nodes.append(StageNode("evaluate_start", "evaluate", "evaluate", common.evaluation(
            exp, s.evaluation, common.model(exp.model, current if s.sft is not None else None),
            timeline=timeline(0, "spin/heldout/"))))
    for t in range(s.iterations):
        it = s.per_iteration.get(t)
        fraction = it.prompt_fraction if it is not None and it.prompt_fraction is not None else s.prompt_fraction
        gen, pairs, train = f"generate_t{t}", f"pairs_t{t}", f"train_t{t}"
        started = t > 0 or s.sft is not None
        nodes.append(StageNode(gen, "generate", "generate", {
            "model": common.model(exp.model, current if started else None),
            "prompts": exp.data.train,
            "fields": common.data(exp),
            "prompt_fraction": fraction,
            "sample_seed": exp.seed + t,
            "generation": s.generation.model_dump(mode="json"),
        }, shards=s.generation.shards))
        earlier = {"current": [], "current_and_previous": list(range(max(t - 1, 0), t)),
                   "all": list(range(t))}[s.pairs_from]
        nodes.append(StageNode(pairs, "pairs", "spin_pairs", {
            "generations": Ref(gen, "generations"),
            "data": exp.data.train,
            "fields": common.data(exp),
            "previous": [Ref(f"pairs_t{i}", "new_pairs") for i in earlier],
            "downsample": s.downsample,
            "sample_seed": exp.seed + t,
            "timeline": timeline(t + 1, tags=PAIRS_TAGS),
        }))
        training_update: dict[str, Any] = {}
        if it is not None and it.lr is not None:
            training_update["lr"] = it.lr
        nodes.append(StageNode(train, "train", "dpo", {
            "model": common.model(exp.model, current if started else None),
            "reference": current,  # the opponent: model_t, frozen
            "pairs": Ref(pairs, "pairs"),
            "dpo": {
                "beta": it.beta if it is not None and it.beta is not None else s.beta,
                "loss_type": [s.loss_type],
                "max_prompt_length": s.max_prompt_length,
            },
            "iteration": t,
            "timeline": timeline(t + 1, tags=TRAIN_TAGS),
        }, training_update=training_update))
        current = Ref(train, "model")
        if s.evaluation is not None:
            nodes.append(StageNode(f"evaluate_t{t}", "evaluate", "evaluate", common.evaluation(
                exp, s.evaluation, common.model(exp.model, current), iteration=t,
                timeline=timeline(t + 1, "spin/heldout/"))))
    return nodes
