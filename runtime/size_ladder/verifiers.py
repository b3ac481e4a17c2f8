"""Verifiers for best-of-n: which of n sampled answers to keep, without looking at the gold.

- rule: arithmetic a chain of thought states can be checked. A sample scores the sum of
  - the share of its equations ("a op b = c") that hold when recomputed;
  - the share of their operands that are numbers of the question or results of earlier
    equations (a chain that solves another sum holds, but answers the wrong question; a
    constant the question says only in words, as in "twice", counts against it);
  - one if it states a final answer ("The answer is X") and X is its last equation's result
    (or it has no equation).
  The question is the prompt's last block: lm-eval separates few-shot examples by a blank
  line, so the examples' numbers do not count. The first best sample wins.
- reward_model: a sequence-classification model (hub id or path) scores prompt + answer;
  the highest score wins.
"""

from __future__ import annotations

import re
from typing import Any

EQUATION = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")
STATED = re.compile(r"[Tt]he answer is\s*(-?\d+(?:\.\d+)?)?")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def rule_score(text: str, question: str = "") -> float:
    given = {float(n) for n in NUMBER.findall(question)}
    holds, grounded, last = [], [], None
    for a, op, b, c in EQUATION.findall(text):
        x, y, z = float(a), float(b), float(c)
        value = {"+": x + y, "-": x - y, "*": x * y, "x": x * y, "×": x * y, "/": x / y if y else float("nan")}[op]
        holds.append(abs(value - z) < 1e-6)
        grounded += [x in given, y in given]
        given.add(z)
        last = z
    share = sum(holds) / len(holds) if holds else 0.0
    if question and NUMBER.search(question) and grounded:
        share += sum(grounded) / len(grounded)
    stated = STATED.search(text)
    if stated and (last is None or (stated.group(1) is not None and float(stated.group(1)) == last)):
        share += 1.0
    return share


def question_of(prompt: str) -> str:
    """The prompt's last block: the question asked, without the few-shot examples before it."""
    return prompt.rstrip().split("\n\n")[-1]


def pick_by_rule(samples: list[str], prompt: str = "") -> int:
    question = question_of(prompt)
    scores = [rule_score(s, question) for s in samples]
    return scores.index(max(scores))


class RewardModel:
    def __init__(self, path: str) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path, truncation_side="left")  # keep the answer, cut the prompt
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        if torch.cuda.is_available():
            self.model = self.model.to("cuda")

    def pick(self, prompt: str, samples: list[str]) -> int:
        import torch

        with torch.no_grad():
            enc = self.tokenizer([prompt + s for s in samples], return_tensors="pt", padding=True, truncation=True
                                 ).to(self.model.device)
            scores = self.model(**enc).logits[:, -1].tolist()
        return int(max(range(len(samples)), key=lambda i: scores[i]))


def picker(intervention: dict[str, Any], base_dir: str) -> Any:
    """A function (prompt, samples) -> index of the chosen sample."""
    if intervention.get("verifier") == "reward_model":
        from runtime.core.models import resolve_model

        rm = RewardModel(resolve_model(str(intervention["verifier_model"]), base_dir, "verifier_model"))
        return rm.pick
    return lambda prompt, samples: pick_by_rule(samples, prompt)
