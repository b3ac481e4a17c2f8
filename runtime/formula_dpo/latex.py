"""LaTeX normalisation before comparison, as the field's evaluation scripts do it.

im2latex (Deng et al.) and UniMERNet score tokenised LaTeX: a formula is split into LaTeX
tokens (a control word like `\\frac`, a control symbol like `\\{`, or one character), and
spacing differs nothing. Here spacing commands (`\\,`, `\\quad`, `~`, ...) are dropped too:
they change how a formula looks by a few points, not what it says.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"\\[a-zA-Z]+\*?|\\.|\S", re.DOTALL)
SPACING = frozenset({"\\,", "\\:", "\\;", "\\!", "\\ ", "~", "\\quad", "\\qquad", "\\enspace", "\\thinspace",
                     "\\medspace", "\\thickspace", "\\negthinspace", "\\space"})


def tokens(latex: str) -> list[str]:
    """LaTeX tokens without spacing: `\\frac{a}{b}` -> [\\frac, {, a, }, {, b, }]."""
    return [t for t in TOKEN.findall(latex) if t not in SPACING]


def normalize(latex: str) -> str:
    """Tokens joined by one space: equal strings mean the same formula up to spacing."""
    return " ".join(tokens(latex))
