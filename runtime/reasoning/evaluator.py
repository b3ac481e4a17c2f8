"""The `reasoning` evaluator of the evaluate task: held-out questions answered with the
chain-of-thought prompt (few-shot exemplars when the model has not been trained on the
format yet); greedy accuracy, majority-vote accuracy over k samples, and pass@k, by the
spec's answer checker."""

from __future__ import annotations

from collections import Counter
from typing import Any

from runtime.evaluate import Sample
from runtime.generate import exemplars, generate_batched, text_tokenizer
from runtime.reasoning import chains
from runtime.reasoning.checkers import check, parse_number


def vote_key(answer: str) -> str:
    """Answers that mean the same number vote together ("1,000" and "1000")."""
    value = parse_number(answer)
    return f"{value:.10g}" if value is not None else " ".join(answer.split()).lower()


def evaluate(config: dict[str, Any], model: Any, tokenizer: Any,
             samples: list[Sample]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    tc = config["task_config"]
    checker, k = tc["checker"], int(tc.get("majority_k") or 1)
    shots = exemplars({**tc, "prompts": tc.get("exemplars_from") or tc["data"]}, config["base_dir"])
    prompts = [chains.prompt(s.prompt, shots) for s in samples]
    golds = [chains.gold_parts(s.gold)[1] for s in samples]
    limit = int(tc.get("max_new_tokens") or 256)
    greedy = generate_batched(model, tokenizer, prompts, {"max_new_tokens": limit, "batch_size": 32})
    sampled = generate_batched(model, tokenizer, prompts, {"max_new_tokens": limit, "batch_size": 32,
                                                           "num_samples": k, "temperature": tc["temperature"]}
                               ) if k > 1 else [[g[0]] for g in greedy]
    tok = text_tokenizer(tokenizer)
    predictions: list[dict[str, Any]] = []
    tokens = 0
    for s, gold, g, many in zip(samples, golds, greedy, sampled, strict=True):
        answers = [chains.final_answer(t) for t in many]
        votes = Counter(vote_key(a) for a in answers if a)
        top = votes.most_common(1)[0][0] if votes else ""
        majority = next((a for a in answers if a and vote_key(a) == top), "")
        tokens += len(tok(g[0], add_special_tokens=False)["input_ids"])
        predictions.append({"question": s.prompt, "gold": gold, "greedy": g[0],
                            "greedy_answer": chains.final_answer(g[0]),
                            "greedy_correct": check(chains.final_answer(g[0]), gold, checker),
                            "samples": many, "majority_answer": majority,
                            "majority_correct": bool(majority) and check(majority, gold, checker),
                            "any_correct": any(check(a, gold, checker) for a in answers if a)})
    n = max(len(predictions), 1)
    return {"greedy_accuracy": sum(p["greedy_correct"] for p in predictions) / n,
            "majority_accuracy": sum(p["majority_correct"] for p in predictions) / n,
            f"pass_at_{k}": sum(p["any_correct"] for p in predictions) / n,
            "tokens_per_question": tokens / n}, predictions
