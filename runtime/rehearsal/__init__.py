"""Rehearsals (`labspec launch SPEC --rehearse`): the task that builds the rehearsal's
models and data (`assets`), the models (`models`) and the data writers (`data`)."""

from runtime.core import registry

registry.TASKS["rehearsal_assets"] = "runtime.rehearsal.assets:run"
