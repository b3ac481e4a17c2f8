"""A yes/no question on the terminal; no terminal means no (use --yes)."""

from __future__ import annotations

import sys

from specs.errors import LabspecError


def confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        raise LabspecError(f"{question} There is no terminal to ask: pass --yes to submit without asking")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")
