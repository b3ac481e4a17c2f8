"""The one exception family for mistakes a user can make.

Every error a user can cause (a bad spec, a bad override, a missing file) is a
`LabspecError`; the CLI prints its message without a traceback and exits with
`exit_code`. A `SpecError` carries *all* problems found in a spec at once, each
located as ``FILE:LINE: dotted.field: message`` so the user can fix them in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class LabspecError(Exception):
    """Base of every error a user can cause; its message says what to change."""

    exit_code: int = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located as precisely as we can."""

    source: str  # a file path, or a description such as "-o training.lr=x"
    line: int | None  # 1-based, when known
    path: str  # dotted field path ("" for the whole document)
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class SpecError(LabspecError):
    """A spec (or its overrides) is invalid; `problems` lists every issue found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("SpecError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(_unique(problems))
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        head = "1 problem" if n == 1 else f"{n} problems"
        return f"invalid spec ({head}):\n" + "\n".join(f"  {p}" for p in self.problems)


class CompileError(LabspecError):
    """A valid spec that cannot be turned into runs (e.g. batch sizes that do not divide)."""


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    out: list[Problem] = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
