"""Task `grpo`: RL with verifiable rewards through TRL's GRPOTrainer on DeepSpeed.

Each training question is written in the task's prompt style (with its few-shot worked
examples) and answered `group_size` times; the reward the task names (a route's, looked up
by name so this module imports no route) scores each answer against the row's gold. The
spec's GRPO settings go to GRPOConfig as TRL names them. TRL logs the reward curve, each
reward's mean, the share of groups whose rewards are all equal (they teach nothing),
answer lengths, KL and the clipped share under the run's tb/; the run's summary carries
their means for the route's timeline. Resumes from the newest checkpoint like the other
trainers.
"""

from __future__ import annotations

import importlib.util
from statistics import fmean
from typing import Any

from runtime.core import data, environment, models, registry, training
from runtime.core.errors import TaskInputError
from runtime.core.preemption import EXIT_REQUEUE
from runtime.tasks.generate import exemplars
from specs.tasks import RunConfig
from specs.tasks.generic import GRPOTask

GOLD = "gold"  # the dataset column the reward functions read the gold answer from


def prompts_dataset(ds: Any, tc: GRPOTask, shots: list[str], chat: bool) -> Any:
    """Rows as TRL prompts (a user turn for a chat model) with their gold answers."""
    style = registry.lookup(registry.PROMPT_STYLES, "prompt style", tc.prompt_style)
    q, a = tc.prompts.prompt_field, tc.prompts.completion_field

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        text = style(str(row[q]), shots)
        return {"prompt": [{"role": "user", "content": text}] if chat else text, GOLD: str(row[a])}

    return ds.map(convert, remove_columns=ds.column_names)


def config_arguments(run: RunConfig, tc: GRPOTask, weights: list[float]) -> dict[str, Any]:
    g = tc.grpo
    extra: dict[str, Any] = {
        "num_generations": g.group_size, "beta": g.beta, "epsilon": g.epsilon, "epsilon_high": g.epsilon_high,
        "loss_type": g.loss_type, "scale_rewards": g.scale_rewards, "temperature": g.temperature,
        "max_completion_length": g.max_completion_length, "num_iterations": g.num_iterations,
        "mask_truncated_completions": g.mask_truncated_completions, "reward_weights": weights,
        "model_init_kwargs": models.model_kwargs(tc.model), "log_completions": False,
    }
    if g.backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise TaskInputError("grpo backend vllm: this python has no vllm; point stages.grpo.python at an "
                                 "environment with vllm, trl and deepspeed, or set the GRPO backend to hf")
        extra.update(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization)
    return training.arguments(run, extra)


def summary_from(log_history: list[dict[str, Any]], reward_names: list[str]) -> dict[str, float]:
    """The run's figures for its summary and the route's timeline: means over the logged
    steps (a single step is noise), and the mean reward of the first and the last tenth of
    them."""
    def series(key: str) -> list[float]:
        return [float(e[key]) for e in log_history if isinstance(e.get(key), (int, float))]

    out: dict[str, float] = {}
    for key, name in (("reward", "reward"), ("frac_reward_zero_std", "frac_reward_zero_std"),
                      ("completions/mean_length", "completion_length"), ("kl", "kl"),
                      ("clip_ratio/region_mean", "clip_ratio"), ("entropy", "entropy"),
                      *((f"rewards/{n}/mean", f"{n}_reward") for n in reward_names)):
        values = series(key)
        if values:
            out[name] = fmean(values)
    rewards = series("reward")
    if rewards:  # a step's reward is a handful of prompts' worth: compare the first and last tenth
        window = max(1, len(rewards) // 10)
        out["reward_first"], out["reward_last"] = fmean(rewards[:window]), fmean(rewards[-window:])
    return out


def run(run: RunConfig, tc: GRPOTask) -> int:
    environment.prepare_training(run)
    from trl import GRPOConfig, GRPOTrainer

    model_path, tokenizer_path = models.paths(tc.model, run.base_dir)
    ds, path = data.load_ref(tc.prompts, run.base_dir, "data.train")
    ds = data.require_columns(ds, [tc.prompts.prompt_field, tc.prompts.completion_field], path,
                              "data.prompt_field / data.completion_field", empty="refuse")
    tokenizer = models.load_processing(tokenizer_path, False)
    chat = getattr(tokenizer, "chat_template", None) is not None
    shots = exemplars(tc.exemplars or tc.prompts, tc.few_shot, tc.prompt_style, run.base_dir)
    train = prompts_dataset(ds, tc, shots, chat)
    build = registry.load(registry.lookup(registry.REWARDS, "reward", tc.reward))
    try:
        functions, weights = build(tc.reward_options, list(train[GOLD]))
    except TaskInputError as exc:
        raise TaskInputError(f"{path}: {exc}") from None
    try:
        args = GRPOConfig(**config_arguments(run, tc, weights))
    except ValueError as exc:
        raise TaskInputError(f"grpo settings: {exc}") from None
    stop = training.preemption_callback(run)
    try:
        trainer = GRPOTrainer(model=model_path, reward_funcs=functions, args=args, train_dataset=train,
                              processing_class=tokenizer, peft_config=training.lora_config(run.peft), callbacks=[stop])
    except OSError as exc:
        raise TaskInputError(f"model: cannot load {model_path} ({exc})") from None
    trained = training.train(trainer, stop, "grpo")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    figures = summary_from(trainer.state.log_history, [f.__name__ for f in functions])
    training.finish(trainer, tokenizer, run, training.summary_of(result, resume, **figures), primary="reward")
    return 0
