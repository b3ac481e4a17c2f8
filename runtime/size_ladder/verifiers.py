"""Verifiers for best-of-n: which of n sampled answers to keep, without looking at the gold.

- rule: arithmetic a chain of thought states can be checked. Each "a op b = c" in the text is
  recomputed; a sample scores the share of its equations that hold, plus one if it states a
  final answer ("The answer is X"); the first best sample wins.
- reward_model: a sequence-classification model (hub id or path) scores prompt + answer;
  the highest score wins.
"""

from __future__ import annotations

import re
from typing import Any

EQUATION = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")
STATED = re.compile(r"[Tt]he answer is")


def rule_score(text: str) -> float:
    checks = []
    for a, op, b, c in EQUATION.findall(text):
        x, y, z = float(a), float(b), float(c)
        value = {"+": x + y, "-": x - y, "*": x * y, "x": x * y, "×": x * y, "/": x / y if y else float("nan")}[op]
        checks.append(abs(value - z) < 1e-6)
    share = sum(checks) / len(checks) if checks else 0.0
    return share + (1.0 if STATED.search(text) else 0.0)


def pick_by_rule(samples: list[str]) -> int:
    scores = [rule_score(s) for s in samples]
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
    return lambda prompt, samples: pick_by_rule(samples)
