"""Formula-recognition metrics on normalised LaTeX tokens.

BLEU is sacrebleu's (the maintained reference implementation; corpus BLEU over token
strings with its own tokeniser off, since the text is tokenised already), the edit
distance is rapidfuzz's Levenshtein over token sequences, normalised by the longer one
(0 = identical, 1 = nothing in common), exact match compares normalised token strings.
Every prediction gets an error class a researcher can filter on: `correct`, `invalid`
(KaTeX does not parse it) or `valid_wrong`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.formula_dpo.latex import normalize, tokens

CLASSES = ("correct", "invalid", "valid_wrong")


@dataclass(frozen=True)
class Scored:
    exact_match: bool
    edit_distance: float
    bleu: float
    valid: bool | None  # None when validity was not asked for
    error: str | None  # KaTeX's message for an invalid prediction

    @property
    def error_class(self) -> str:
        if self.exact_match:
            return "correct"
        return "invalid" if self.valid is False else "valid_wrong"

    def as_dict(self) -> dict[str, Any]:
        return {"exact_match": self.exact_match, "edit_distance": self.edit_distance, "bleu": self.bleu,
                "valid": self.valid, "katex_error": self.error, "error_class": self.error_class}


def edit_distance(prediction: str, gold: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return float(Levenshtein.normalized_distance(tokens(prediction), tokens(gold)))


def sentence_bleu(prediction: str, gold: str) -> float:
    from sacrebleu.metrics.bleu import BLEU

    value = BLEU(tokenize="none", effective_order=True).sentence_score(normalize(prediction), [normalize(gold)])
    return min(1.0, float(value.score) / 100)


def corpus_bleu(predictions: list[str], golds: list[str]) -> float:
    from sacrebleu.metrics.bleu import BLEU

    if not predictions:
        return float("nan")
    value = BLEU(tokenize="none").corpus_score([normalize(p) for p in predictions], [[normalize(g) for g in golds]])
    return min(1.0, float(value.score) / 100)


def score(prediction: str, gold: str, error: str | None = None, checked: bool = False) -> Scored:
    """One prediction against its gold; `error` is KaTeX's verdict when `checked`."""
    return Scored(exact_match=normalize(prediction) == normalize(gold),
                  edit_distance=edit_distance(prediction, gold),
                  bleu=sentence_bleu(prediction, gold),
                  valid=(error is None) if checked else None, error=error)


def summary(predictions: list[str], golds: list[str], scored: list[Scored], wanted: list[str]) -> dict[str, float]:
    """Corpus figures for the metrics asked for, plus the share of each error class."""
    n = max(len(scored), 1)
    out: dict[str, float] = {}
    if "bleu" in wanted:
        out["bleu"] = corpus_bleu(predictions, golds)
    if "edit_distance" in wanted:
        out["edit_distance"] = sum(s.edit_distance for s in scored) / n
    if "exact_match" in wanted:
        out["exact_match"] = sum(s.exact_match for s in scored) / n
    if "validity" in wanted:
        out["validity"] = sum(bool(s.valid) for s in scored) / n
        for cls in CLASSES:
            out[f"share_{cls}"] = sum(s.error_class == cls for s in scored) / n
    return out
