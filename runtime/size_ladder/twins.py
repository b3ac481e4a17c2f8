"""Perturbed twins of GSM8K-style math items: the same problem with other numbers, and a gold
answer recomputed through every annotated step (the idea behind GSM-Symbolic and GSM-Plus,
derived automatically).

A GSM8K rationale carries calculator annotations, `48/2 = <<48/2=24>>24 clips`, and ends with
`#### 72`. Each number in an annotation's expression is traced: a number of the question (an
input), the result of an earlier step, or a constant ("half" is `/2`, and 2 is not in the
question). The inputs get new values; every step is recomputed in order; the last step that
gives the final answer gives the twin's gold answer. A draw is kept only when every step that
gave a whole number still does (and stays non-negative when it was), so a twin reads like its
original. An item is left out, with the reason counted, when it cannot be traced: no
annotation, a step whose stated result is not what its expression computes, a final answer
no step produces, no question number reaching it, a number that is both the question's and
an earlier step's (its source is ambiguous, and guessing wrong gives a wrong gold answer), or
no draw that keeps the steps whole.

Pure Python (fractions, no floats in the arithmetic), so it runs anywhere.
"""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

ANNOTATION = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|[.,]\d)")  # 1,000 but not "15,"
FINAL = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")
DRAWS = 200  # tries to find new inputs that keep every step whole


class Untraceable(ValueError):
    """Why an item has no twin (the reason is counted)."""


@dataclass(frozen=True)
class Step:
    expression: str
    result: Fraction
    sources: tuple[tuple[str, Any], ...]  # per number literal: ("input", value) | ("step", index) | ("constant", v)


@dataclass(frozen=True)
class Twin:
    question: str
    rationale: str
    answer: str
    inputs: dict[str, str]  # old input -> new input, as written


def number(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def written(value: Fraction) -> str:
    """A value as GSM8K writes it: whole numbers plain, others as a short decimal."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.4f}".rstrip("0").rstrip(".")


def evaluate(expression: str, values: dict[int, Fraction] | None = None) -> Fraction:
    """An annotation's arithmetic (+ - * / and parentheses) exactly; `values` replaces the
    number at each character offset of the expression (the twin's inputs and steps)."""
    try:
        tree = ast.parse(expression.replace(",", "").strip(), mode="eval")
    except SyntaxError:
        raise Untraceable("an annotation that is not arithmetic") from None
    literals = {m.start(): m.group() for m in NUMBER.finditer(expression.replace(",", "").strip())}

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            offset = node.col_offset
            if values is not None and offset in values:
                return values[offset]
            return Fraction(literals.get(offset, str(node.value)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = walk(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if right == 0:
                raise Untraceable("a step divides by zero")
            return left / right
        raise Untraceable("an annotation that is not arithmetic")

    return walk(tree)


def trace(question: str, rationale: str) -> tuple[list[Step], int, dict[Fraction, str]]:
    """The annotated steps with each number's source, the step giving the final answer, and
    the question's numbers (value -> as written)."""
    final = FINAL.search(rationale.strip())
    if final is None:
        raise Untraceable("no final answer (#### N)")
    annotations = ANNOTATION.findall(rationale)
    if not annotations:
        raise Untraceable("no calculator annotation")
    inputs = {number(m.group()): m.group() for m in NUMBER.finditer(question)}
    steps: list[Step] = []
    for expression, stated in annotations:
        clean = expression.replace(",", "").strip()
        try:
            result = number(stated.strip())
        except ValueError:
            raise Untraceable("a step whose result is not a number") from None
        computed = evaluate(clean)
        if abs(computed - result) > Fraction(1, 10_000) * max(Fraction(1), abs(result)):
            raise Untraceable("a step whose stated result is not what it computes")
        sources: list[tuple[str, Any]] = []
        for m in NUMBER.finditer(clean):
            value = number(m.group())
            earlier = [i for i, s in enumerate(steps) if s.result == value]
            if earlier and value in inputs:  # "bags of 3 for 7" with 21/3 = 7: which 7 is it?
                raise Untraceable("a number that is both the question's and an earlier step's")
            if earlier:
                sources.append(("step", earlier[-1]))
            elif value in inputs:
                sources.append(("input", value))
            else:
                sources.append(("constant", value))
        steps.append(Step(clean, computed, tuple(sources)))
    answer = number(final.group(1))
    producing = [i for i, s in enumerate(steps) if s.result == answer]
    if not producing:
        raise Untraceable("a final answer no step produces")
    last = producing[-1]
    if not any(kind == "input" for kind, _ in _reaching(steps, last)):
        raise Untraceable("no question number reaches the answer")
    return steps, last, inputs


def _reaching(steps: list[Step], index: int) -> list[tuple[str, Any]]:
    """Every source that flows into step `index`, through earlier steps."""
    out: list[tuple[str, Any]] = []
    for kind, ref in steps[index].sources:
        out.append((kind, ref))
        if kind == "step":
            out.extend(_reaching(steps, ref))
    return out


def recompute(steps: list[Step], new_inputs: dict[Fraction, Fraction]) -> list[Fraction]:
    results: list[Fraction] = []
    for step in steps:
        offsets = [m.start() for m in NUMBER.finditer(step.expression)]
        values = {}
        for offset, (kind, ref) in zip(offsets, step.sources, strict=True):
            values[offset] = results[ref] if kind == "step" else new_inputs.get(ref, ref) if kind == "input" else ref
        results.append(evaluate(step.expression, values))
    return results


def _draw(value: Fraction, rng: random.Random) -> Fraction:
    """Another value of the same kind: a whole number near it (half to double), else a
    decimal scaled by a simple factor."""
    if value.denominator == 1 and value > 0:
        low, high = max(1, int(value) // 2), max(int(value) * 2, int(value) + 3)
        choices = [v for v in range(low, high + 1) if v != value]
        return Fraction(rng.choice(choices))
    return value * rng.choice([Fraction(1, 2), Fraction(3, 2), Fraction(2)])


def make_twin(question: str, rationale: str, rng: random.Random) -> Twin:
    """The twin of one item (raises Untraceable with the reason)."""
    steps, last, inputs = trace(question, rationale)
    used = sorted({ref for step in steps for kind, ref in step.sources if kind == "input"})
    for _ in range(DRAWS):
        new = {v: _draw(v, rng) for v in used}
        if len(set(new.values())) < len(new):
            continue  # two inputs would read alike
        try:
            results = recompute(steps, new)
        except Untraceable:
            continue
        if all(_alike(old.result, r) for old, r in zip(steps, results, strict=True)):
            return _rewrite(question, rationale, steps, results, last, new, inputs)
    raise Untraceable("no draw of new numbers keeps every step whole")


def _alike(old: Fraction, new: Fraction) -> bool:
    if old.denominator == 1 and new.denominator != 1:
        return False
    if old >= 0 > new:
        return False
    return new.denominator == 1 or Fraction(written(new)) == new  # a short decimal, exactly


def _rewrite(question: str, rationale: str, steps: list[Step], results: list[Fraction], last: int,
             new: dict[Fraction, Fraction], inputs: dict[Fraction, str]) -> Twin:
    """The twin's question (its inputs replaced where written) and rationale (every annotation
    recomputed; the numbers of the text around it mapped old -> new)."""
    mapping: dict[Fraction, Fraction] = dict(new)
    for step, result in zip(steps, results, strict=True):
        if mapping.get(step.result, result) != result:
            raise Untraceable("one number of the rationale would need two new values")
        mapping[step.result] = result

    def swap(text: str, table: dict[Fraction, Fraction]) -> str:
        return NUMBER.sub(lambda m: written(table[number(m.group())]) if number(m.group()) in table else m.group(),
                          text)

    twin_question = swap(question, new)
    parts, position = [], 0
    for index, m in enumerate(ANNOTATION.finditer(rationale)):
        parts.append(swap(rationale[position:m.start()], mapping))
        offsets = [n.start() for n in NUMBER.finditer(steps[index].expression)]
        expression = steps[index].expression
        for offset, (kind, ref) in sorted(zip(offsets, steps[index].sources, strict=True), reverse=True):
            value = results[ref] if kind == "step" else new.get(ref, ref) if kind == "input" else ref
            literal = NUMBER.match(expression, offset)
            assert literal is not None
            expression = expression[:offset] + written(value) + expression[literal.end():]
        parts.append(f"<<{expression}={written(results[index])}>>")
        position = m.end()
    before_final = rationale[position:].rstrip().rpartition("####")[0]
    parts.append(swap(before_final, mapping) + "#### " + written(results[last]))
    return Twin(twin_question, "".join(parts), written(results[last]),
                {inputs[v]: written(n) for v, n in new.items()})


def twins(rows: Iterable[dict[str, Any]], question_field: str, answer_field: str, seed: int
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]]:
    """(originals that have a twin, their twins, why the others have none). A twin keeps
    every field of its original but the question and the answer, and records its original's
    index; each original gets the gold answer alone (`gold`), as the twin does."""
    rng = random.Random(seed)
    originals, out, left_out = [], [], Counter[str]()
    for index, row in enumerate(rows):
        try:
            twin = make_twin(str(row[question_field]), str(row[answer_field]), rng)
        except Untraceable as exc:
            left_out[str(exc)] += 1
            continue
        final = FINAL.search(str(row[answer_field]).strip())
        assert final is not None
        originals.append({**row, "gold": written(number(final.group(1))), "index": index})
        out.append({**row, question_field: twin.question, answer_field: twin.rationale, "gold": twin.answer,
                    "index": index, "twin_inputs": twin.inputs})
    return originals, out, left_out
