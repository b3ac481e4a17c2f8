"""Route `size_ladder`: one model family at many sizes x inference-time interventions,
through lm-evaluation-harness: harness task configs, verifiers, the ladder's arithmetic.
Registers its tasks."""

from runtime.core import registry

registry.TASKS.update({"benchmark": "runtime.size_ladder.benchmark:run",
                       "ladder_aggregate": "runtime.size_ladder.aggregate:run",
                       "ladder_twins": "runtime.size_ladder.contamination:run",
                       "ladder_judge": "runtime.size_ladder.fluency:run"})
