"""What runs on the node: `python -m runtime <run.json>` (torch, transformers, trl, ...).

Reads one run dir's run.json, sets up distributed training from the environment and
runs the run's task: one module per task (sft, dpo, generate, evaluate, spin_pairs,
smoke). A task that this version does not have yet (the route issues add theirs) is
refused with a clear message instead of pretended.
"""
