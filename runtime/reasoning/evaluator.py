"""The `reasoning` evaluator of the evaluate task: held-out questions answered with the
chain-of-thought prompt (few-shot exemplars when the model has not been trained on the
format yet); greedy accuracy, majority-vote accuracy over k samples, and pass@k, by the
spec's answer checker."""

from __future__ import annotations

from collections import Counter
from typing import Any

from runtime.core.models import text_tokenizer
from runtime.core.sampling import generate_batched
from runtime.reasoning import chains
from runtime.reasoning.checkers import chain_right, check, parse_number
from runtime.tasks.evaluate import Sample
from runtime.tasks.generate import exemplars
from specs.sections import GenerationSettings
from specs.tasks import RunConfig
from specs.tasks.generic import EvaluateTask
from specs.tasks.reasoning import ReasoningEvalOptions


def vote_key(answer: str) -> str:
    """Answers that mean the same number vote together ("1,000" and "1000")."""
    value = parse_number(answer)
    return f"{value:.10g}" if value is not None else " ".join(answer.split()).lower()


def evaluate(run: RunConfig, tc: EvaluateTask, model: Any, tokenizer: Any,
             samples: list[Sample]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    opts = tc.opts(ReasoningEvalOptions)
    checker, k = opts.checker, opts.majority_k
    shots = exemplars(opts.exemplars, opts.few_shot, "cot", run.base_dir) if opts.exemplars else []
    prompts = [chains.prompt(s.prompt, shots) for s in samples]
    golds = [chains.gold_parts(s.gold)[1] for s in samples]
    greedy_settings = GenerationSettings(max_new_tokens=opts.max_new_tokens, batch_size=32)
    greedy = generate_batched(model, tokenizer, prompts, greedy_settings)
    sampled = generate_batched(model, tokenizer, prompts, greedy_settings.model_copy(update={
        "num_samples": k, "temperature": opts.temperature})) if k > 1 else [[g[0]] for g in greedy]
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
                            "greedy_correct": chain_right(g[0], gold, checker),
                            "samples": many, "majority_answer": majority,
                            "majority_correct": bool(majority) and check(majority, gold, checker),
                            "any_correct": any(check(a, gold, checker) for a in answers if a)})
    n = max(len(predictions), 1)
    return {"greedy_accuracy": sum(p["greedy_correct"] for p in predictions) / n,
            "majority_accuracy": sum(p["majority_correct"] for p in predictions) / n,
            f"pass_at_{k}": sum(p["any_correct"] for p in predictions) / n,
            "tokens_per_question": tokens / n}, predictions
