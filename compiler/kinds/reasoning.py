"""Kind `reasoning`: evaluate the base model; for t: sample k chains -> check/filter/dedupe
-> sft -> evaluate; then (optionally) GRPO from the last model (or from the base model)
-> evaluate; then (optionally) the planner + solver evaluation, and SFT of the planner on
the plans that led the solver to the right answer.

Every iteration's figures also go on one TensorBoard timeline (step = the model index:
0 = the base model, t+1 = the model iteration t trained)."""

from __future__ import annotations

from compiler.kinds import common
from compiler.nodes import StageNode, ref
from specs.errors import CompileError
from specs.kinds.reasoning import ReasoningExperiment
from specs.sections import EvaluationSettings, GenerationSettings, SFTSettings
from specs.tasks import DatasetRef, ModelRef
from specs.tasks.generic import EvaluateTask, GenerateTask, GRPOTask, SFTTask
from specs.tasks.reasoning import (
    FilterChainsTask,
    PlanSolveTask,
    Rationalization,
    ReasoningEvalOptions,
    ReasoningRewardOptions,
)

FILTER_TAGS = {k: f"data/{k}" for k in ("coverage", "coverage_before_rationalization", "yield",
                                        "distinct_per_question", "rationalization_share", "data_size")}
CHAIN_SFT = SFTSettings(completion_only_loss=True, packing=False)
GRPO_TAGS = {"reward": "grpo/reward", "reward_last": "grpo/reward_last", "answer_reward": "grpo/answer_reward",
             "frac_reward_zero_std": "grpo/zero_variance_share", "completion_length": "grpo/completion_length",
             "kl": "grpo/kl", "clip_ratio": "grpo/clip_ratio"}


def exemplars(exp: ReasoningExperiment) -> DatasetRef | None:
    """Worked examples for few-shot prompts: the few-shot file, else the training questions,
    never the held-out file (its answers would be in the prompt)."""
    b = exp.reasoning.bootstrap
    if b.few_shot_file:
        return common.dataset(exp, b.few_shot_file, format="jsonl")
    return common.dataset(exp, exp.data.train) if exp.data.train else None


def evaluation(exp: ReasoningExperiment, model: ModelRef, step: int, few_shot: int) -> EvaluateTask:
    r = exp.reasoning
    held_out = r.evaluation.data or exp.data.test
    if held_out is None or exp.data.train is None:
        raise CompileError("reasoning needs data.train and held-out questions")  # refused at validation already
    settings = EvaluationSettings(metrics=["greedy_accuracy", "majority_accuracy"], evaluator="reasoning",
                                  generation=GenerationSettings(backend=r.backend, vllm=r.vllm))
    options = ReasoningEvalOptions(checker=r.checker, majority_k=r.evaluation.majority_k,
                                   temperature=r.evaluation.temperature, max_new_tokens=r.bootstrap.max_new_tokens,
                                   few_shot=few_shot, exemplars=exemplars(exp) if few_shot else None)
    return common.evaluation(exp, settings, model, common.dataset(exp, held_out), "reasoning", options=options,
                             timeline=common.timeline(step, "reasoning/heldout/"))


def stages(exp: ReasoningExperiment) -> list[StageNode]:
    r = exp.reasoning
    b = r.bootstrap
    if exp.data.train is None:
        raise CompileError("the bootstrap samples chains for training questions: set data.train")
    train = common.dataset(exp, exp.data.train)
    nodes = [StageNode("evaluate_start", "evaluate", evaluation(exp, common.model(exp.model), 0, b.few_shot),
                       role="evaluate", coordinates={"model_index": 0, "split": "test"})]
    current: str = exp.model.name_or_path
    for t in range(b.iterations):
        sample, filt, sft = f"sample_t{t}", f"filter_t{t}", f"sft_t{t}"
        model_t = common.model(exp.model, current if t else None)
        where = {"iteration": t, "model_index": t}
        few_shot = b.few_shot if t == 0 else 0  # later models learned the format
        nodes += [
            StageNode(sample, "sample", GenerateTask(
                model=model_t, prompts=train, prompt_style="cot", few_shot=few_shot,
                exemplars=exemplars(exp) if few_shot else None, sample_seed=exp.seed + t,
                generation=GenerationSettings(num_samples=b.samples_per_question, temperature=b.temperature,
                                              max_new_tokens=b.max_new_tokens, shards=b.shards, batch_size=16,
                                              backend=r.backend, vllm=r.vllm)),
                role="generate", coordinates=where, shards=b.shards),
            StageNode(filt, "filter", FilterChainsTask(
                samples=ref(sample, "generations"), question_field=exp.data.prompt_field,
                answer_field=exp.data.completion_field, checker=r.checker,
                rationalization=Rationalization(enabled=b.rationalization, model=model_t, temperature=b.temperature,
                                                max_new_tokens=b.max_new_tokens, backend=r.backend, vllm=r.vllm),
                dedupe=b.dedupe, max_chains_per_question=b.max_chains_per_question, include_gold=b.include_gold,
                provenance={"iteration": t, "model": current},
                timeline=common.timeline(t + 1, "reasoning/", FILTER_TAGS)), role="filter", coordinates=where),
            StageNode(sft, "sft", SFTTask(
                model=common.model(exp.model, None if b.restart_from_base or t == 0 else current),
                data=common.produced(ref(filt, "data"), prompt_field=exp.data.prompt_field,
                                     completion_field=exp.data.completion_field),
                sft=CHAIN_SFT, timeline=common.timeline(t + 1, "reasoning/", {"train_loss": "sft_loss"})),
                role="train", coordinates=where,
                training_update={"max_steps": round(b.base_steps * b.steps_growth**t)}),
        ]
        current = ref(sft, "model")
        nodes.append(StageNode(f"evaluate_t{t}", "evaluate",
                               evaluation(exp, common.model(exp.model, current), t + 1, 0), role="evaluate",
                               coordinates={"iteration": t, "model_index": t + 1, "split": "test"}))
    if r.grpo is not None:
        current = grpo_stages(exp, nodes, current)
    ps = r.planner_solver
    if ps.enabled and ps.solver is not None:
        held_out = r.evaluation.data or exp.data.test
        assert held_out is not None
        nodes.append(StageNode("plan_solve", "plan_solve", PlanSolveTask(
            planner=common.model(exp.model, current), solver=common.model(ps.solver),
            data=common.dataset(exp, held_out), checker=r.checker, max_plan_tokens=ps.max_plan_tokens,
            max_new_tokens=b.max_new_tokens, modes=list(ps.modes), verify_rounds=ps.verify_rounds,
            max_verdict_tokens=ps.max_verdict_tokens, train_planner=ps.train_planner, backend=r.backend, vllm=r.vllm),
            role="plan_solve",
            coordinates={"model_index": b.iterations, "split": "test"}))
        if ps.train_planner:
            nodes.append(StageNode("sft_planner", "sft", SFTTask(
                model=common.model(exp.model, current),
                data=common.produced(ref("plan_solve", "plans"), prompt_field="prompt", completion_field="plan"),
                sft=CHAIN_SFT), role="train"))
    return nodes


def grpo_stages(exp: ReasoningExperiment, nodes: list[StageNode], current: str) -> str:
    """GRPO on the training questions -> evaluate, appended to `nodes`; the trained model.
    From the base model (or with no STaR iteration before it) the prompts carry the
    few-shot exemplars, as the base model's evaluation did; after STaR the model knows
    the format."""
    r = exp.reasoning
    g, b = r.grpo, r.bootstrap
    assert g is not None and exp.data.train is not None
    from_base = g.start == "base" or b.iterations == 0
    few_shot = b.few_shot if from_base else 0
    index = b.iterations + 1
    where = {"iteration": b.iterations, "model_index": index}
    nodes.append(StageNode("grpo", "grpo", GRPOTask(
        model=common.model(exp.model, None if from_base else current), prompts=common.dataset(exp, exp.data.train),
        grpo=g, reward="reasoning", reward_options=ReasoningRewardOptions(checker=r.checker, format=g.format),
        prompt_style="cot", few_shot=few_shot, exemplars=exemplars(exp) if few_shot else None,
        timeline=common.timeline(index, "reasoning/", GRPO_TAGS)),
        role="grpo", coordinates=where, training_update={"max_steps": g.steps}))
    trained = ref("grpo", "model")
    nodes.append(StageNode("evaluate_grpo", "evaluate", evaluation(exp, common.model(exp.model, trained), index,
                                                                   few_shot),
                           role="evaluate", coordinates={**where, "split": "test"}))
    return trained
