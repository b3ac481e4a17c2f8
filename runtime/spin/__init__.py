"""Route `spin`: self-play fine-tuning's pairs (gold vs the model's own answer); the
generate and dpo tasks do the rest."""

from runtime.core import registry

registry.TASKS["spin_pairs"] = "runtime.spin.pairs:run"
