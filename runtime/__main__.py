"""Entry point on the node: `python -m runtime RUN_DIR_OR_RUN_JSON`.

run.json is validated against the compiler's own models (`specs.tasks.RunConfig`, the
run's task config chosen by its task) before anything heavy is imported, so a bad
config fails first, with the field named; then the task registered under the run's
task name runs (`runtime.core.registry`, filled by `runtime.routes`).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runtime RUN_DIR_OR_RUN_JSON", file=sys.stderr)
        return 2
    path = Path(argv[0])
    run_json = path / "run.json" if path.is_dir() else path
    try:
        raw = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {run_json}: {exc}", file=sys.stderr)
        return 2
    from specs.version import VERSION

    made_by = str(raw.get("labspec_version", "?")) if isinstance(raw, dict) else "?"
    if made_by.split(".")[:2] != VERSION.split(".")[:2]:
        print(f"error: {run_json} was compiled by labspec {made_by}; this runtime is {VERSION}. "
              "Compile and launch the spec again with this version", file=sys.stderr)
        return 2
    from pydantic import ValidationError

    from specs.tasks import RunConfig

    try:
        run = RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        print(f"error: {run_json} is not a run this runtime can run ({problems}). Compile and launch the "
              "spec again with this version", file=sys.stderr)
        return 2
    from runtime import routes  # noqa: F401  (every route registers its tasks)
    from runtime.core import guard, registry, run_environment
    from runtime.core.errors import TaskInputError

    if run.task not in registry.TASKS:
        print(f"error: runtime task {run.task!r} is not available in this labspec version", file=sys.stderr)
        return 3
    task = registry.load(registry.TASKS[run.task])
    try:
        guard.protect(run)
        run_environment.record(run.run_dir)
        result: int = task(run, run.task_config)
    except TaskInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"error: no space left to write {exc.filename or 'the run dir'} ({exc.strerror}); free space and "
              "launch again: the run resumes from its last checkpoint", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Leave without the interpreter's teardown: with torch.distributed, DeepSpeed and gloo
    # threads still alive at exit, a rank can abort in a C++ destructor ("terminate called
    # without an active exception", SIGABRT) after its work is done and saved, failing a
    # finished run. Everything the tasks write is closed by now; the streams are flushed here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
