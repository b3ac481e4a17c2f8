"""The ladder's arithmetic, kept pure so it can be checked on known inputs.

- An ability's score in a cell is the mean of its tasks' scores; its standard error,
  treating the tasks as independent samples, is sqrt(sum of squared task errors) / k.
- Retention: a model's score / the largest model's score, for the same ability and
  intervention (what survives shrinking).
- Gain: an intervention's score - plain decoding's score, for the same model and ability,
  with standard error sqrt(se_a^2 + se_b^2) (independent samples; an upper bound when the
  same questions are used, as here).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def mean_with_stderr(scores: list[tuple[float, float]]) -> tuple[float, float]:
    """(mean, stderr) of task scores given as (score, stderr)."""
    if not scores:
        return float("nan"), float("nan")
    k = len(scores)
    return sum(s for s, _ in scores) / k, math.sqrt(sum(e * e for _, e in scores)) / k


@dataclass(frozen=True)
class LadderRow:
    intervention: str
    ability: str
    model: str
    size: float
    score: float
    stderr: float
    retention: float
    gain: float | None
    gain_stderr: float | None
    pass_at_n: float | None
    tokens_per_question: float | None
    wall_seconds: float | None


def ladder(cells: list[dict[str, Any]]) -> list[LadderRow]:
    """cells: {"model", "size", "intervention", "type", "metrics": {"ability/<a>": score, "ability/<a>_stderr": se,
    "pass_at_n/<a>"?, "tokens_per_question"?, "wall_seconds"?}} -> one row per intervention x ability x model."""
    scores: dict[tuple[str, str, str], tuple[float, float]] = {}
    for c in cells:
        for key, value in c["metrics"].items():
            if key.startswith("ability/") and not key.endswith("_stderr"):
                ability = key.split("/", 1)[1]
                scores[(c["intervention"], ability, c["model"])] = (
                    float(value), float(c["metrics"].get(f"{key}_stderr", float("nan"))))
    largest = max(cells, key=lambda c: float(c["size"]))["model"] if cells else ""
    # plain decoding: the intervention of type none, whatever it is named
    plain_name = next((c["intervention"] for c in cells if c.get("type", c["intervention"]) == "none"), "none")
    order = {iv: i for i, iv in enumerate(dict.fromkeys(c["intervention"] for c in cells))}  # as the spec lists them
    rows = []
    for c in sorted(cells, key=lambda c: (order[c["intervention"]], float(c["size"]))):
        for (iv, ability, model), (score, se) in sorted(scores.items()):
            if iv != c["intervention"] or model != c["model"]:
                continue
            top = scores.get((iv, ability, largest), (float("nan"), 0.0))[0]
            plain = scores.get((plain_name, ability, model))
            gain = None if plain is None or iv == plain_name else score - plain[0]
            gain_se = None if plain is None or iv == plain_name else math.sqrt(se * se + plain[1] * plain[1])
            m = c["metrics"]
            rows.append(LadderRow(
                intervention=iv, ability=ability, model=model, size=float(c["size"]), score=score, stderr=se,
                retention=score / top if top else float("nan"), gain=gain, gain_stderr=gain_se,
                pass_at_n=m.get(f"pass_at_n/{ability}"), tokens_per_question=m.get("tokens_per_question"),
                wall_seconds=m.get("wall_seconds")))
    return rows


def as_dicts(rows: list[LadderRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
