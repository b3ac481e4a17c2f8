"""Entry point on the node: `python -m runtime RUN_DIR_OR_RUN_JSON`."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

TASKS: dict[str, str] = {  # task name -> module under runtime/
    "smoke": "smoke",
    "sft": "sft",
    "generate": "generate",
    "evaluate": "evaluate",
    "dpo": "dpo",
    "spin_pairs": "spin_pairs",
    "formula_data": "formula_data",
    "mine_pairs": "mine_pairs",
    "distill": "distill",
    "encoder_eval": "encoder_eval",
    "mllm": "mllm",
    "benchmark": "benchmark",
    "ladder_aggregate": "ladder_aggregate",
    "filter_chains": "filter_chains",
    "plan_solve": "plan_solve",
}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runtime RUN_DIR_OR_RUN_JSON", file=sys.stderr)
        return 2
    path = Path(argv[0])
    run_json = path / "run.json" if path.is_dir() else path
    try:
        config = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {run_json}: {exc}", file=sys.stderr)
        return 2
    from specs.version import VERSION

    made_by = str(config.get("labspec_version", "?"))
    if made_by.split(".")[:2] != VERSION.split(".")[:2]:
        print(f"error: {run_json} was compiled by labspec {made_by}; this runtime is {VERSION}. "
              "Compile and launch the spec again with this version", file=sys.stderr)
        return 2
    task = config.get("task")
    if task not in TASKS:
        print(f"error: runtime task {task!r} is not available in this labspec version", file=sys.stderr)
        return 3
    import importlib

    from runtime.errors import TaskInputError

    module = importlib.import_module(f"runtime.{TASKS[task]}")
    try:
        result: int = module.run(config)
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
