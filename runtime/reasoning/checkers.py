"""Is a final answer right? Numeric (with tolerance; "1,000", "1e3", "3/4", "$5", "50%"
all read as numbers), exact string, a regular expression the answer must match with the
gold in its first group, or symbolic equality through sympy ("x*(x+1)" == "x**2 + x")."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from runtime.reasoning import chains
from specs.kinds.reasoning import AnswerChecker

NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def parse_number(text: str) -> float | None:
    """A number from an answer as people write it, or None."""
    t = str(text).strip().rstrip(".").replace(",", "").replace("$", "").replace(" ", "")
    percent = t.endswith("%")
    t = t.rstrip("%")
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = float(Fraction(int(num), int(den)))
        elif NUMBER.match(t):
            value = float(t)
        else:
            return None
    except (ValueError, ZeroDivisionError):
        return None
    return value / 100 if percent else value


def numeric(answer: str, gold: str, tolerance: float) -> bool:
    a, g = parse_number(answer), parse_number(gold)
    if a is None or g is None:
        return False
    return abs(a - g) <= tolerance * max(1.0, abs(g))


def exact(answer: str, gold: str) -> bool:
    return " ".join(str(answer).split()).strip(". ").lower() == " ".join(str(gold).split()).strip(". ").lower()


def regex(answer: str, gold: str, pattern: str) -> bool:
    found = re.search(pattern, str(answer))
    if not found:
        return False
    value = found.group(1) if found.groups() else found.group()
    return exact(value, gold)


def symbolic(answer: str, gold: str) -> bool:
    import sympy

    try:
        a = sympy.sympify(str(answer).replace("^", "**"))
        g = sympy.sympify(str(gold).replace("^", "**"))
        return bool(sympy.simplify(a - g) == 0)
    except (sympy.SympifyError, TypeError, SyntaxError, AttributeError):
        return exact(answer, gold)


def misfit(gold: str, checker: AnswerChecker) -> str | None:
    """Why a gold answer cannot be checked by `checker` (None when it can): a numeric
    checker needs a number, a sympy checker an expression. A data set whose answer field
    holds something else would score every answer 0, silently."""
    if checker.type == "numeric" and parse_number(gold) is None:
        return "is not a number"
    if checker.type == "sympy":
        import sympy

        try:
            sympy.sympify(str(gold).replace("^", "**"))
        except (sympy.SympifyError, TypeError, SyntaxError, AttributeError):
            return "is not an expression sympy reads"
    if not str(gold).strip():
        return "is empty"
    return None


def check(answer: str, gold: str, checker: AnswerChecker | dict[str, Any]) -> bool:
    """Whether `answer` is right by the spec's checker (a dict with the same fields is read too)."""
    if isinstance(checker, AnswerChecker):
        checker = checker.model_dump()
    kind = checker.get("type", "numeric")
    if kind == "numeric":
        return numeric(answer, gold, float(checker.get("tolerance", 1e-6)))
    if kind == "regex":
        return regex(answer, gold, str(checker["regex"]))
    if kind == "sympy":
        return symbolic(answer, gold)
    return exact(answer, gold)


def chain_right(chain: str, gold: str, checker: AnswerChecker | dict[str, Any]) -> bool:
    """Whether a chain's final answer (its first stated one) is right by the checker."""
    return check(chains.final_answer(chain), gold, checker)
