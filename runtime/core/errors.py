"""Errors a run's inputs can cause: reported as one message naming the file and field,
before any training starts (the runtime exits 2 on them)."""


class TaskInputError(Exception):
    """A run's input is missing or malformed; the message says what to change."""
