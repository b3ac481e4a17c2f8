"""Task `plan_solve`'s verify mode: the small model solves with its chain; the large model
reads the question and the numbered chain and accepts it or names the first wrong step; a
rejected chain goes back to the small model with that step named, up to `rounds` retries,
after which the large model answers itself.

The point is the large model's accuracy at a fraction of its tokens: checking a chain costs
it a short verdict, answering costs it a whole chain. So every attempt's tokens are kept,
and the verifier is scored against the checker (positive: the chain's final answer is
right), over every verified chain of every round.

Pure bookkeeping: the models come in as callables (prompts -> texts, in order), so tests
drive the loop with scripted answers and `plan_solve` hands in the real models. No torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from runtime.reasoning import chains
from runtime.reasoning.checkers import chain_right
from specs.kinds.reasoning import AnswerChecker

Who = Literal["small", "large"]
Generate = Callable[[list[str]], list[str]]
Count = Callable[[str, Who], int]

VERDICT = ('Check a solution. Read the problem and the numbered steps. If every step is right, reply '
           '"Verdict: accept". Otherwise reply "Verdict: reject, first wrong step: N", where N is the number of '
           "the first wrong step.\n\nProblem: {question}\n\nSteps:\n{steps}\n\nVerdict:")
RETRY = ("{question}\n(A previous attempt, below, was checked and {where}.\n{steps}\n"
         "Solve the problem again without that mistake.)")
# a reply that goes on from the prompt's "Verdict:" starts with the verdict; a chat model's own turn may
# discuss the steps first and then write "Verdict: ..."
LEADING = re.compile(r"^\W*(accept|reject)", re.IGNORECASE)
LABELLED = re.compile(r"verdict\W*(accept|reject)", re.IGNORECASE)
STEP = re.compile(r"step\D{0,20}?(\d+)", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Verdict:
    """accept, reject (with the first wrong step when it named one in range) or unclear;
    an unclear verdict counts as a reject with no step: only an explicit accept lets a
    chain through, so a verifier that rambles costs tokens, not accuracy."""

    label: Literal["accept", "reject", "unclear"]
    step: int | None = None

    @property
    def accepted(self) -> bool:
        return self.label == "accept"


@dataclass(frozen=True)
class Attempt:
    """One round for one question: the small model's chain, the checker's and the
    verifier's verdicts on it, and what it cost each model."""

    round: int
    chain: str
    correct: bool
    verdict: str
    step: int | None
    verdict_text: str
    small_tokens: int
    large_tokens: int
    large_read_tokens: int


def steps(chain: str) -> list[str]:
    """A chain's steps: its lines, each split into sentences (a decimal point is not an end:
    a sentence ends at . ! or ? followed by a space), up to the stated answer."""
    return [s.strip() for line in chains.clean(chain).splitlines() for s in SENTENCE_END.split(line) if s.strip()]


def numbered(chain: str) -> str:
    found = steps(chain)
    return "\n".join(f"{i}. {s}" for i, s in enumerate(found, 1)) if found else "(no steps)"


def verdict_prompt(question: str, chain: str) -> str:
    """What the large model reads: the question and the chain's numbered steps."""
    return VERDICT.format(question=question, steps=numbered(chain))


def retry_prompt(question: str, chain: str, step: int | None) -> str:
    """The chain-of-thought prompt again, with the rejected attempt and its first wrong step
    (or only that it was rejected, when the verdict named none)."""
    where = f"step {step} is wrong" if step is not None else "has a mistake"
    return chains.prompt(RETRY.format(question=question, where=where, steps=numbered(chain)))


def parse_verdict(text: str, step_count: int | None = None) -> Verdict:
    """The verdict in the large model's reply: its first word (" accept" after the prompt's
    "Verdict:"), else its first "Verdict: ..."; anything else is unclear (a loose "accepted"
    in prose is not a verdict). A step outside 1..step_count is dropped (feedback naming a
    step the chain lacks would mislead the retry)."""
    found = LEADING.search(text) or LABELLED.search(text)
    if found is None:
        return Verdict("unclear")
    if found.group(1).lower() == "accept":
        return Verdict("accept")
    number = STEP.search(text, found.end())
    step = int(number.group(1)) if number else None
    if step is not None and (step < 1 or (step_count is not None and step > step_count)):
        step = None
    return Verdict("reject", step)


def verify_loop(questions: Sequence[str], golds: Sequence[str], solve: Generate, judge: Generate,
                answer_large: Generate, rounds: int, checker: AnswerChecker | dict[str, Any],
                count: Count) -> tuple[list[dict[str, Any]], dict[str, float | None]]:
    """(one row per question, the summary) of solve -> verify -> retry. Batched by round:
    every question's first chain, then every rejected one's retry, ...; after `rounds`
    retries the still-rejected questions go to `answer_large` (the chain-of-thought prompt)
    together. `count(text, who)` is the number of tokens `who`'s tokenizer makes of it."""
    attempts: list[list[Attempt]] = [[] for _ in questions]
    prompts = [chains.prompt(q) for q in questions]
    pending = list(range(len(questions)))
    for r in range(rounds + 1):
        if not pending:
            break
        solved = solve([prompts[i] for i in pending])
        asked = [verdict_prompt(questions[i], c) for i, c in zip(pending, solved, strict=True)]
        replies = judge(asked)
        rejected = []
        for i, chain, prompt, reply in zip(pending, solved, asked, replies, strict=True):
            verdict = parse_verdict(reply, len(steps(chain)))
            attempts[i].append(Attempt(r, chain, chain_right(chain, golds[i], checker), verdict.label,
                                       verdict.step, reply, count(chain, "small"), count(reply, "large"),
                                       count(prompt, "large")))
            if not verdict.accepted:
                rejected.append(i)
                prompts[i] = retry_prompt(questions[i], chain, verdict.step)
        pending = rejected
    fallback = dict(zip(pending, answer_large([chains.prompt(questions[i]) for i in pending]) if pending else [],
                        strict=True))
    rows = [_row(q, gold, tried, fallback.get(i), checker, count)
            for i, (q, gold, tried) in enumerate(zip(questions, golds, attempts, strict=True))]
    return rows, summary(rows, [a for tried in attempts for a in tried])


def _row(question: str, gold: str, tried: list[Attempt], fallback: str | None, checker: AnswerChecker | dict[str, Any],
         count: Count) -> dict[str, Any]:
    """A question's verify record: every attempt, who gave the final answer and what it cost."""
    large, read = sum(a.large_tokens for a in tried), sum(a.large_read_tokens for a in tried)
    if fallback is None:
        final, by = tried[-1].chain, "small"
    else:
        final, by = fallback, "large"
        large += count(fallback, "large")
        read += count(chains.prompt(question), "large")
    return {"question": question, "gold": gold, "attempts": [asdict(a) for a in tried], "answered_by": by,
            "answer": final, "correct": chain_right(final, gold, checker), "retries": len(tried) - 1,
            "small_tokens": sum(a.small_tokens for a in tried), "large_tokens": large, "large_read_tokens": read}


def mean(values: Sequence[float]) -> float:
    return sum(values) / max(len(values), 1)


def ratio(part: int, whole: int) -> float | None:
    """part / whole, None when whole is 0 (undefined, not 0: no accepted chain is no evidence
    of a bad verifier); `results.finish` keeps None out of TensorBoard."""
    return part / whole if whole else None


def arm(name: str, correct: Sequence[bool], small: Sequence[int], large: Sequence[int],
        large_read: Sequence[int] | None = None) -> dict[str, float]:
    """One arm's figures: accuracy and the tokens each model generated per question (and,
    for arms that use the large model, the prompt tokens it read)."""
    out = {f"{name}_accuracy": mean([float(c) for c in correct]), f"{name}_small_tokens": mean(small),
           f"{name}_large_tokens": mean(large)}
    if large_read is not None:
        out[f"{name}_large_read_tokens"] = mean(large_read)
    return out


def summary(rows: list[dict[str, Any]], tried: list[Attempt]) -> dict[str, float | None]:
    """The solve+verify arm, and the verifier against the checker over every verified chain:
    precision = right among accepted, recall = accepted among right (an unclear verdict is a
    reject)."""
    accepted = [a for a in tried if a.verdict == "accept"]
    right = [a for a in tried if a.correct]
    both = sum(a.correct for a in accepted)
    return {**arm("solve_verify", [r["correct"] for r in rows], [r["small_tokens"] for r in rows],
                  [r["large_tokens"] for r in rows], [r["large_read_tokens"] for r in rows]),
            "verifier_precision": ratio(both, len(accepted)), "verifier_recall": ratio(both, len(right)),
            "verify_rounds_used": mean([r["retries"] for r in rows]),
            "verify_large_answered": mean([r["answered_by"] == "large" for r in rows]),
            "verify_unclear": ratio(sum(a.verdict == "unclear" for a in tried), len(tried))}
