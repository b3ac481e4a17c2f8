"""The one interface every executor has: the launcher and the CLI speak only to it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from compiler.plan import Plan, Run
    from launch.launcher import Selection
    from launch.ledger import Ledger, RunRecord
    from specs.loader import LoadedSpec

Log = Callable[[str], None]


class Executor(ABC):
    """Where a plan's runs go.

    Before it asks and again before it records anything, a launch calls `check_fit` (can
    these runs ever run there?). Under the ledger's lock it calls `reconcile` (complete what
    an interrupted launch left behind), selects and records the runs, then `submit`; after
    the lock, `run`
    (an executor that runs here does its work then, so that `cancel` and `status` answer
    meanwhile) and returns how many runs did not complete.
    """

    name: ClassVar[str]

    def check_fit(self, runs: list[Run], loaded: LoadedSpec | None, log: Log) -> list[str]:
        """Refuse (LabspecError, every problem at once, at the spec's lines when `loaded` is
        given) runs this executor could never run; else lines saying where they fit."""
        return []

    def reconcile(self, ledger: Ledger, log: Log) -> None:
        """Under the lock, before selecting."""
        return None

    @abstractmethod
    def dry_run(self, plan: Plan, ledger: Ledger, sel: Selection) -> str:
        """Exactly what `submit` and `run` would start, as text."""

    def submit(self, plan: Plan, ledger: Ledger, sel: Selection, log: Log) -> None:
        """Under the lock, once the selected runs are recorded."""
        return None

    def run(self, plan: Plan, ledger: Ledger, sel: Selection, log: Log) -> int:
        """After the lock: the runs that go here; how many did not complete."""
        return 0

    @abstractmethod
    def cancel(self, rec: RunRecord, log: Log | None = None, quiet: bool = False) -> bool:
        """Stop an active run of this executor (False: it could not be stopped; `quiet`: say nothing)."""
