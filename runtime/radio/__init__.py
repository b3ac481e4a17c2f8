"""Route `radio`: AM-RADIO-style distillation (teachers, student, adaptors, losses, PHI-S,
teacher cache), the encoder's evaluation (fidelity, kNN, linear probes) and LLaVA-style
models on each encoder variant. Registers its tasks and the MLLM evaluator."""

from runtime.core import registry

registry.TASKS.update({"distill": "runtime.radio.distill:run", "encoder_eval": "runtime.radio.encoder_eval:run",
                       "mllm": "runtime.radio.mllm:run"})
registry.EVALUATORS["mllm"] = "runtime.radio.evaluator:evaluate"
