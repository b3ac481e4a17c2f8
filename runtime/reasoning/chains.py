"""Prompts and chains: the chain-of-thought prompt (with few-shot exemplars at t = 0), the
STaR rationalisation prompt (the answer given as a hint, the chain kept without it), the
final answer of a chain, and de-duplication by text or by the sequence of equations (as in
rejection-sampling fine-tuning, where chains that compute the same things are one)."""

from __future__ import annotations

import re
from typing import Any

INSTRUCTION = 'Solve the problem step by step, then write "The answer is <answer>."'
FINAL = re.compile(r"[Tt]he (?:final )?answer is:?\s*\$?\s*([^\n]*?)\s*\.?\s*$", re.MULTILINE)
LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
EQUATION = re.compile(r"([-\d.,/()+*x×÷ ]+?)\s*=\s*(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)")


def gold_parts(answer: str) -> tuple[str | None, str]:
    """(gold rationale or None, final answer) of a gold answer; GSM8K writes '... #### 72'."""
    if "####" in answer:
        rationale, final = answer.rsplit("####", 1)
        return rationale.strip() or None, final.strip()
    return None, answer.strip()


def exemplar(row: dict[str, Any], question_field: str, answer_field: str) -> str:
    rationale, final = gold_parts(str(row[answer_field]))
    chain = f"{rationale.rstrip('.')}. The answer is {final}." if rationale else f"The answer is {final}."
    return f"Q: {row[question_field]}\nA: {chain}"


def prompt(question: str, exemplars: list[str] | None = None, hint: str | None = None) -> str:
    """The chain-of-thought prompt. With `hint` (STaR's rationalisation) the answer is given
    and the model is asked for the reasoning that reaches it."""
    shots = "".join(f"{e}\n\n" for e in exemplars or [])
    given = f" (The answer is {hint}; explain how to get it.)" if hint is not None else ""
    return f"{INSTRUCTION}\n\n{shots}Q: {question}{given}\nA:"


def stated(chain: str) -> re.Match[str] | None:
    """The chain's first stated answer ("The answer is X" with an X). The first: a model that
    goes on after its answer tends to invent the next few-shot question and answer that too,
    and the chain must not be scored by an answer to a question nobody asked."""
    return next((m for m in FINAL.finditer(chain) if m.group(1).strip()), None)


def final_answer(chain: str) -> str:
    """The first stated answer, else the last number, else ''."""
    found = stated(chain)
    if found:
        return found.group(1).strip()
    numbers = [str(n) for n in LAST_NUMBER.findall(chain)]
    return numbers[-1] if numbers else ""


def clean(chain: str) -> str:
    """A chain ends at its first stated answer (what a model writes after it is noise)."""
    found = stated(chain)
    return (chain[:found.end()] if found else chain).strip()


def equations(chain: str) -> tuple[str, ...]:
    return tuple(f"{re.sub(r'[ ,]', '', lhs).strip('.')}={rhs.replace(',', '')}"
                 for lhs, rhs in EQUATION.findall(chain))


def dedupe(chains: list[str], how: str) -> list[str]:
    """Distinct chains, first seen first: by whitespace-normalised text, or by the sequence
    of equations (chains without equations fall back to text)."""
    if how == "none":
        return list(chains)
    seen: set[Any] = set()
    out = []
    for c in chains:
        key: Any = " ".join(c.split()).lower()
        if how == "equations" and equations(c):
            key = equations(c)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
