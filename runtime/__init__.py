"""What runs on the node: `python -m runtime <run.json>` (torch, transformers, trl, ...).

Reads one run dir's run.json, sets up distributed training from the environment and
runs the run's task. The tasks themselves arrive with the runtime issue; until a task
is registered, the runtime says so clearly instead of pretending.
"""
