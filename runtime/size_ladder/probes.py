"""The ladder's probes of what a score means, as plain functions of logged numbers.

- **Min-K% Prob** (Shi et al., 2023, "Detecting Pretraining Data from Large Language
  Models"): the mean of the lowest k% token log-probabilities of a text under the model. A
  text the model has seen has few surprising tokens, so its score is higher. Compared on a
  benchmark's questions against their twins (`runtime.size_ladder.twins`), which the model
  cannot have seen, and summarised as the AUC of telling them apart.
- **Fluency** of free-form answers: distinct-n (Li et al., 2016: unique n-grams over all
  n-grams of all answers), the repetition rate (the share of each answer's n-grams that repeat
  an earlier one of the same answer, averaged), and the share of answers cut off at the token
  limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def min_k_prob(logprobs: Sequence[float], k: float = 0.2) -> float:
    """Mean of the lowest ceil(k * n) token log-probabilities (at least one)."""
    if not logprobs:
        raise ValueError("Min-K% Prob of a text with no scored token")
    if not 0 < k <= 1:
        raise ValueError(f"k is a fraction in (0, 1], not {k}")
    count = max(1, math.ceil(k * len(logprobs)))
    lowest = sorted(logprobs)[:count]
    return sum(lowest) / count


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counting half: the area under the ROC curve
    of telling them apart by score (Mann-Whitney U / (n+ n-))."""
    if not positives or not negatives:
        raise ValueError("an AUC needs scores on both sides")
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams over all n-grams, across every text (words split on whitespace); 0 with none."""
    grams = [g for t in texts for g in ngrams(t.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(texts: Sequence[str], n: int = 4) -> float:
    """Per text, the share of its n-grams that repeat an earlier n-gram of the same text; the
    mean over texts that have any n-gram (0 without)."""
    rates = []
    for text in texts:
        grams = ngrams(text.split(), n)
        if grams:
            rates.append(1 - len(set(grams)) / len(grams))
    return sum(rates) / len(rates) if rates else 0.0


def cut_off_share(token_counts: Sequence[int], limit: int) -> float:
    """The share of answers that used the whole token budget (so were likely cut off)."""
    return sum(1 for c in token_counts if c >= limit) / len(token_counts) if token_counts else 0.0
