"""Text helpers every evaluator shares: normalisers (exact match after a normaliser) and
answer extractors (the answer inside a longer output). Routes register their own
(`runtime.formula_dpo` adds the LaTeX normaliser)."""

from __future__ import annotations

import re
from collections.abc import Callable


def _number(text: str) -> str:
    """The last number in the text (answers come after the reasoning), canonicalised."""
    found = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    if not found:
        return text.strip()
    value = float(found[-1])
    return str(int(value)) if value.is_integer() else str(value)


def _boxed(text: str) -> str:
    """The content of the last \\boxed{...}, nested braces included."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return ""
    depth, i = 0, start + len("\\boxed{") - 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return ""


def _last_number(text: str, regex: str | None = None) -> str:
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    return numbers[-1] if numbers else ""


def _by_regex(text: str, regex: str | None = None) -> str:
    if not regex:
        return text
    found = re.search(regex, text)
    if not found:
        return ""
    return (found.group(1) if found.groups() else found.group()) or ""


def _as_is(text: str) -> str:
    return text


def _basic(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".")


def _whole(text: str, regex: str | None = None) -> str:
    return text


def _in_box(text: str, regex: str | None = None) -> str:
    return _boxed(text)


NORMALIZERS: dict[str, Callable[[str], str]] = {"none": _as_is, "basic": _basic, "number": _number}
EXTRACTORS: dict[str, Callable[[str, str | None], str]] = {
    "none": _whole, "last_number": _last_number, "boxed": _in_box, "regex": _by_regex}


def plain_prompt(question: str, exemplars: list[str]) -> str:
    """The question as it is (worked examples, if any, before it)."""
    return "".join(f"{e}\n\n" for e in exemplars) + question
