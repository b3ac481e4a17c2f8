"""Token log-probabilities of texts under a causal LM (transformers), for the ladder's
probes: Min-K% Prob of benchmark questions, the perplexity of answers under a judge, and
a model's perplexity on a human-written text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MAX_TOKENS = 1024  # a text is scored in windows of at most this many tokens


def token_logprobs(model: Any, tokenizer: Any, texts: Sequence[str], prefixes: Sequence[str] | None = None
                   ) -> list[list[float]]:
    """Per text, the log-probability of each of its tokens given the tokens before it (and its
    prefix, when given: the prompt an answer followed, not scored itself). A text's first
    token without a prefix has no context and is not scored."""
    import torch

    out: list[list[float]] = []
    device = next(model.parameters()).device
    for index, text in enumerate(texts):
        prefix = prefixes[index] if prefixes is not None else ""
        head = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        body = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = (head + body)[-MAX_TOKENS:]
        scored = min(len(body), len(ids) - 1)  # the text's tokens that have something before them
        if scored <= 0:
            out.append([])
            continue
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids], device=device)).logits[0].float()
        logp = torch.log_softmax(logits[:-1], dim=-1)
        picked = logp.gather(1, torch.tensor(ids[1:], device=device).unsqueeze(1)).squeeze(1)
        out.append([float(v) for v in picked[-scored:]])
    return out


def perplexity(logprobs: Sequence[Sequence[float]]) -> float:
    """exp(mean negative log-probability over every scored token); nan with none."""
    flat = [v for seq in logprobs for v in seq]
    return math.exp(-sum(flat) / len(flat)) if flat else float("nan")


def text_windows(tokenizer: Any, text: str, window: int = MAX_TOKENS) -> list[str]:
    """A long text as consecutive pieces of at most `window` tokens."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(ids[i:i + window]) for i in range(0, len(ids), window)]
