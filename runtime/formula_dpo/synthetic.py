"""Synthetic formula images (LaTeX -> PNG) for tests and demos of formula recognition.

Why: the formula-recognition tasks need image/LaTeX pairs, but the real corpora (im2latex and friends)
are large downloads and need a TeX installation to re-render. This module draws random formulas from a
small depth-bounded grammar and renders them with matplotlib's mathtext (pure Python + FreeType, already a
runtime dependency), so a test or a demo gets a fresh, deterministic data set in seconds, offline.

The LaTeX is written the way im2latex's normalised formulas are (tokens separated by single spaces,
`\\frac { a } { b }`), and the grammar only uses constructs that both mathtext and KaTeX accept, so the
same strings can be rendered here and checked/displayed by KaTeX elsewhere. No formula carries two
superscripts or two subscripts on one base (mathtext tolerates that, KaTeX does not). `render` drops the
spaces after `^`/`_` that mathtext, unlike TeX, would take for the script itself.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LATIN = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
DIGITS = [str(d) for d in range(10)]
GREEK = [
    r"\alpha", r"\beta", r"\gamma", r"\delta", r"\epsilon", r"\varepsilon", r"\zeta", r"\eta", r"\theta",
    r"\kappa", r"\lambda", r"\mu", r"\nu", r"\xi", r"\pi", r"\rho", r"\sigma", r"\tau", r"\phi", r"\varphi",
    r"\chi", r"\psi", r"\omega", r"\Gamma", r"\Delta", r"\Theta", r"\Lambda", r"\Xi", r"\Pi", r"\Sigma",
    r"\Phi", r"\Psi", r"\Omega",
]
BINARY_OPS = ["+", "-", r"\times", r"\cdot", r"\pm"]
RELATIONS = ["=", "<", ">", r"\leq", r"\geq", r"\neq", r"\approx"]
ACCENTS = [r"\hat", r"\bar", r"\tilde", r"\vec", r"\dot"]
FUNCTIONS = [r"\sin", r"\cos", r"\tan", r"\log", r"\ln", r"\exp"]
TRIG = {r"\sin", r"\cos", r"\tan"}
BIG_OPS = [r"\sum", r"\prod"]
INDEX_VARS = ["i", "j", "k", "n", "m"]
DELIMITERS = [("(", ")"), ("[", "]")]

# How often a term of the grammar is each construct (when depth is left for one).
_TERM_WEIGHTS: dict[str, int] = {
    "atom": 5,
    "script": 5,
    "frac": 3,
    "sqrt": 2,
    "bigop": 2,
    "int": 1,
    "lim": 1,
    "accent": 2,
    "delim": 2,
    "func": 2,
}
_TERM_KINDS = list(_TERM_WEIGHTS)
_TERM_CUM_WEIGHTS = list(itertools.accumulate(_TERM_WEIGHTS.values()))

# mathtext's Computer Modern fonts look like the LaTeX-rendered images of the real corpora.
MATH_FONT = "cm"
PAD_PX = 4
MAX_REPEATS = 10_000


def random_formula(rng: random.Random, max_depth: int) -> str:
    """One random formula, its tokens separated by single spaces; `max_depth` bounds the nesting
    (0: a few symbols, 1: e.g. `x ^ { 2 } + \\alpha`, 3: fractions of sums of roots ...)."""
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, not {max_depth}")
    tokens = _expr(rng, max_depth, max_terms=2)
    if rng.random() < 0.35:
        tokens += [rng.choice(RELATIONS), *_expr(rng, max_depth, max_terms=2)]
    return " ".join(tokens)


def _group(tokens: list[str]) -> list[str]:
    return ["{", *tokens, "}"]


def _number(rng: random.Random) -> list[str]:
    """A digit, sometimes two (written digit by digit, as im2latex does)."""
    if rng.random() < 0.3:
        return [rng.choice(DIGITS[1:]), rng.choice(DIGITS)]
    return [rng.choice(DIGITS)]


def _atom(rng: random.Random) -> list[str]:
    r = rng.random()
    if r < 0.25:
        return _number(rng)
    if r < 0.45:
        return [rng.choice(GREEK)]
    return [rng.choice(LATIN)]


def _letter(rng: random.Random) -> list[str]:
    return [rng.choice(GREEK)] if rng.random() < 0.3 else [rng.choice(LATIN)]


def _expr(rng: random.Random, depth: int, max_terms: int) -> list[str]:
    tokens = _term(rng, depth)
    for _ in range(rng.randint(1, max_terms) - 1):
        if rng.random() < 0.8:
            tokens.append(rng.choice(BINARY_OPS))
        tokens += _term(rng, depth)  # or side by side: implicit multiplication
    return tokens


def _small(rng: random.Random, depth: int) -> list[str]:
    """A sub/superscript: short."""
    return _expr(rng, depth, max_terms=2 if rng.random() < 0.25 else 1)


def _term(rng: random.Random, depth: int) -> list[str]:
    if depth <= 0:
        return _atom(rng)
    kind = rng.choices(_TERM_KINDS, cum_weights=_TERM_CUM_WEIGHTS)[0]
    sub = depth - 1
    if kind == "atom":
        return _atom(rng)
    if kind == "script":
        base = _letter(rng) if rng.random() < 0.6 else [rng.choice(DIGITS)] if rng.random() < 0.5 else _accent(rng)
        return _scripts(rng, base, sub)
    if kind == "frac":
        return [r"\frac", *_group(_expr(rng, sub, 2)), *_group(_expr(rng, sub, 2))]
    if kind == "sqrt":
        index = ["[", rng.choice(["3", "4", "n"]), "]"] if rng.random() < 0.35 else []
        return [r"\sqrt", *index, *_group(_small(rng, sub))]
    if kind == "bigop":
        i = rng.choice(INDEX_VARS)
        lower = [i, "=", rng.choice(["0", "1"])]
        upper = rng.choice([["n"], ["N"], [r"\infty"], ["1", "0"]])
        return [rng.choice(BIG_OPS), "_", *_group(lower), "^", *_group(upper), *_term(rng, sub)]
    if kind == "int":
        bounds = [(["0"], ["1"]), (["a"], ["b"]), (["0"], [r"\infty"]), (["-", r"\infty"], [r"\infty"])]
        lower, upper = rng.choice(bounds)
        var = rng.choice(["x", "t", "u"])
        return [r"\int", "_", *_group(lower), "^", *_group(upper), *_small(rng, sub), "d", var]
    if kind == "lim":
        var = rng.choice(["x", "n", "h", "t"])
        target = [rng.choice(["0", r"\infty", "1", "a"])]
        return [r"\lim", "_", *_group([var, r"\to", *target]), *_term(rng, sub)]
    if kind == "accent":
        return _accent(rng)
    if kind == "delim":
        tokens = _delim(rng, sub)
        return _scripts(rng, tokens, sub) if rng.random() < 0.3 else tokens
    # func
    fn = rng.choice(FUNCTIONS)
    power = ["^", "{", "2", "}"] if fn in TRIG and rng.random() < 0.3 else []
    arg = _delim(rng, sub, brackets=("(", ")")) if rng.random() < 0.5 else _letter(rng)
    return [fn, *power, *arg]


def _accent(rng: random.Random) -> list[str]:
    return [rng.choice(ACCENTS), *_group(_letter(rng))]


def _delim(rng: random.Random, depth: int, brackets: tuple[str, str] | None = None) -> list[str]:
    left, right = brackets or rng.choice(DELIMITERS)
    return [r"\left", left, *_expr(rng, depth, 2), r"\right", right]


def _scripts(rng: random.Random, base: list[str], depth: int) -> list[str]:
    """`base` (which has no scripts yet) with a subscript, a superscript or both, never two of a kind.
    Scripts nest at most one construct deep, as in real formulas."""
    depth = min(depth, 1)
    r = rng.random()
    tokens = list(base)
    if r < 0.6:
        tokens += ["_", *_group(_small(rng, depth))] if r < 0.2 else []
        tokens += ["^", *_group(_small(rng, depth))]
    else:
        tokens += ["_", *_group(_small(rng, depth))]
    return tokens


def _parser() -> Any:
    from matplotlib.mathtext import MathTextParser

    global _PARSER
    if _PARSER is None:
        _PARSER = MathTextParser("agg")
    return _PARSER


_PARSER: Any = None
_SPACE_AFTER_SCRIPT = re.compile(r"([\^_])\s+")


def render(latex: str, path: Path, dpi: int, font_size: int) -> bool:
    """Render `$latex$` with matplotlib's mathtext to a PNG (black on white, tight, small padding).
    False when mathtext rejects it (nothing written).

    Whitespace right after `^` and `_` is dropped first: TeX ignores it, but mathtext takes the space itself
    as the script (`x ^ { 2 }` would come out as `x 2` side by side), and im2latex-style LaTeX has it everywhere.
    """
    import matplotlib
    import numpy as np
    from matplotlib.font_manager import FontProperties
    from PIL import Image

    prop = FontProperties(size=font_size, math_fontfamily=MATH_FONT)
    # The raster mathtext parser renders straight to a coverage array: no Figure, no backend, no pyplot state;
    # hinting comes from rcParams, pinned to matplotlib's defaults so a user's matplotlibrc does not change pixels.
    source = _SPACE_AFTER_SCRIPT.sub(r"\1", latex)
    hinting: dict[Any, Any] = {k: matplotlib.rcParamsDefault[k] for k in ("text.hinting", "text.hinting_factor")}
    try:
        with matplotlib.rc_context(hinting):
            parsed = _parser().parse(f"${source}$", dpi=dpi, prop=prop, antialiased=True)
    except ValueError:  # mathtext reports every parse error (pyparsing's included) as ValueError
        return False
    coverage = np.asarray(parsed.image, dtype=np.uint8)
    page = np.full((coverage.shape[0] + 2 * PAD_PX, coverage.shape[1] + 2 * PAD_PX), 255, dtype=np.uint8)
    page[PAD_PX : PAD_PX + coverage.shape[0], PAD_PX : PAD_PX + coverage.shape[1]] = 255 - coverage
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(page, mode="L").save(path, format="PNG")
    return True


def generate(
    out_dir: Path, n_train: int, n_test: int, seed: int, dpi: int, font_size: int, max_depth: int
) -> dict[str, list[dict[str, str]]]:
    """{"train": rows, "test": rows}; rows {"image": absolute PNG path under out_dir/images/, "latex": str}.
    Deterministic for a seed; no formula (after whitespace removal) in both splits; no duplicate formulas
    within a split."""
    if n_train < 0 or n_test < 0:
        raise ValueError(f"n_train and n_test must be >= 0, not {n_train}, {n_test}")
    rng = random.Random(seed)
    images = Path(out_dir).resolve() / "images"
    seen: set[str] = set()  # across both splits: disjoint, and no duplicates within one
    rejected = 0
    out: dict[str, list[dict[str, str]]] = {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows: list[dict[str, str]] = []
        repeats = 0  # draws in a row that gave nothing new: the grammar is (nearly) exhausted at this depth
        while len(rows) < n:
            latex = random_formula(rng, max_depth)
            key = "".join(latex.split())
            if key in seen:
                repeats += 1
                if repeats > MAX_REPEATS:
                    raise ValueError(
                        f"only {len(rows)} distinct {split} formulas of the {n} asked for ({len(seen)} in all): "
                        f"{MAX_REPEATS} draws in a row repeated earlier ones at max_depth {max_depth}; "
                        "raise max_depth or ask for fewer"
                    )
                continue
            repeats = 0
            seen.add(key)  # a rejected formula is not drawn again either
            path = images / f"{split}_{len(rows):06d}.png"
            if not render(latex, path, dpi, font_size):
                rejected += 1
                continue
            rows.append({"image": str(path), "latex": latex})
        out[split] = rows
    if rejected:
        log.info("synthetic formulas: %d drawn formula(s) rejected by mathtext and redrawn", rejected)
    return out
