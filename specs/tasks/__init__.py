"""The compiler -> runtime contract: one typed model per runtime task (`base` has the
run.json envelope and the shared reference types; `generic` the generic tasks; one
module per route kind, named as the kind). Importing this package registers them all."""

from specs.tasks import formula_dpo, generic, radio, reasoning, rehearsal, size_ladder, spin  # noqa: F401
from specs.tasks.base import (
    CONFIG_FORMAT,
    TASK_CONFIGS,
    Coordinates,
    DatasetRef,
    ModelRef,
    RunConfig,
    TaskConfig,
    Timeline,
    VisionPrompt,
    references,
)

__all__ = ["CONFIG_FORMAT", "TASK_CONFIGS", "Coordinates", "DatasetRef", "ModelRef", "RunConfig", "TaskConfig",
           "Timeline", "VisionPrompt", "references"]
