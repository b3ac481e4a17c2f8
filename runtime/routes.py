"""Every route package, imported so that each registers its tasks, evaluators,
normalisers and prompt styles (`runtime.core.registry`). Only the entry point and the
tests import this; generic tasks never do."""

from runtime import formula_dpo, radio, reasoning, rehearsal, size_ladder, spin, tasks  # noqa: F401  (registration)

ROUTES = ("formula_dpo", "spin", "radio", "size_ladder", "reasoning")
