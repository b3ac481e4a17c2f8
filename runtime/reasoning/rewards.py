"""GRPO's rewards for the reasoning route (registered as the `reasoning` reward): 1 when
the checker accepts a chain's final answer against the gold, 0 otherwise; and a separate
format reward for the answer's shape, weighted in the trainer (TRL sums the reward
functions with `reward_weights`, and logs each one's mean under rewards/<name>/mean).

Both are pure functions of text, so they are tested on hand-made completions. The gold
answers are checked against the checker before training: a numeric checker on an answer
field of words would give every answer 0 and GRPO no signal."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from runtime.core.errors import TaskInputError
from runtime.reasoning import chains
from runtime.reasoning.checkers import check, misfit
from specs.kinds.reasoning import AnswerChecker
from specs.tasks.reasoning import ReasoningRewardOptions

THINK = re.compile(r"^\s*<think>(?P<think>.+?)</think>\s*<answer>(?P<answer>.+?)</answer>\s*$", re.DOTALL)
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
Reward = Callable[..., list[float]]


def text_of(completion: Any) -> str:
    """A completion as text: TRL passes a string, or a list of messages for a chat model."""
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def final_answer(chain: str, template: str) -> str:
    """The answer a chain gives: inside <answer> tags under the think template, else the
    route's usual reading ("The answer is X", else the last number)."""
    if template == "think":
        tagged = ANSWER_TAG.findall(chain)
        return tagged[0].strip() if tagged else ""
    return chains.final_answer(chain)


def answer_reward(chain: str, gold: str, checker: AnswerChecker, template: str) -> float:
    answer = final_answer(chain, template)
    return 1.0 if answer and check(answer, chains.gold_parts(gold)[1], checker) else 0.0


def format_reward(chain: str, template: str, checker: AnswerChecker) -> float:
    """1 when the chain is in the template's shape: it ends at "The answer is X." (text
    after it would be noise), or is <think>..</think><answer>X</answer> and nothing else;
    and X is an answer the checker can read (a number for the numeric checker), stated
    once. Without that last condition the reward is hackable: a weak model trained on it
    learnt "The answer is The answer is - = =", whose whole tail reads as X."""
    if template == "think":
        shaped = THINK.match(chain)
        stated = shaped.group("answer") if shaped else None
    elif template == "answer":
        found = chains.stated(chain)
        stated = found.group(1) if found and not chain[found.end():].strip() else None
    else:
        return 0.0
    if stated is None or "answer is" in stated.lower() or misfit(stated.strip(), checker):
        return 0.0
    return 1.0


def check_golds(golds: list[str], checker: AnswerChecker) -> None:
    """Refuse gold answers the checker cannot read, naming the first ones."""
    bad = [(i, g, why) for i, g in enumerate(golds) if (why := misfit(chains.gold_parts(g)[1], checker))]
    if bad:
        shown = "; ".join(f"row {i + 1}: {chains.gold_parts(g)[1][:40]!r} {why}" for i, g, why in bad[:3])
        raise TaskInputError(f"{len(bad)} of {len(golds)} gold answers do not fit the {checker.type} checker "
                             f"({shown}): "
                             "set the checker's type (numeric, exact, regex, sympy) to one the answers fit, or "
                             "data.completion_field to the field with the final answers")


def reward_functions(options: ReasoningRewardOptions, golds: list[str]) -> tuple[list[Reward], list[float]]:
    """The reward functions for TRL's GRPOTrainer and their weights. Each reads the gold
    from the dataset's `gold` column, which TRL passes by name."""
    check_golds(golds, options.checker)
    template = options.format.template

    def answer(completions: list[Any], gold: list[str], **_: Any) -> list[float]:
        return [answer_reward(text_of(c), g, options.checker, template) for c, g in zip(completions, gold, strict=True)]

    def format(completions: list[Any], **_: Any) -> list[float]:  # TRL logs it by this name
        return [format_reward(text_of(c), template, options.checker) for c in completions]

    if template == "none" or options.format.weight == 0:
        return [answer], [1.0]
    return [answer, format], [1.0, options.format.weight]
