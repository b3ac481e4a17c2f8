"""The generic tasks (sft, dpo, grpo, generate, evaluate, smoke) and the names they bring:
the default evaluator, the plain normalisers and answer extractors, the plain prompt."""

from runtime.core import registry, text

registry.TASKS.update({
    "smoke": "runtime.tasks.smoke:run",
    "sft": "runtime.tasks.sft:run",
    "dpo": "runtime.tasks.dpo:run",
    "grpo": "runtime.tasks.grpo:run",
    "generate": "runtime.tasks.generate:run",
    "evaluate": "runtime.tasks.evaluate:run",
})
registry.EVALUATORS["default"] = "runtime.tasks.evaluate:default_evaluator"
registry.NORMALIZERS.update(text.NORMALIZERS)
registry.EXTRACTORS.update(text.EXTRACTORS)
registry.PROMPT_STYLES["plain"] = text.plain_prompt
