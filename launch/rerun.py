"""`labspec launch --rerun RUN`: run one run again exactly, in a new run dir.

Exactly means what the original ran with, not what the spec or the working tree say now:
its run.json (the same config and the same upstream outputs), its launch script (the same
interpreter, launcher and environment) and its code snapshot. Only the run dir is new
(`<run dir>-rerunN`, its own id `<id>rN`), and it is recorded as a rerun of the original
(provenance.json's `rerun_of`, and the ledger), so `labspec diff ORIGINAL RERUN` compares
the two attempts and a flaky number can be told from a changed one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compiler.plan import Plan, Run
from launch.jsonfile import read_object
from launch.ledger import Ledger
from launch.snapshot import MANIFEST
from specs.errors import LabspecError

FILES = ("run.json", "launch.sh", "deepspeed.json", "provenance.json")


class RerunError(LabspecError):
    """The run cannot be rerun exactly (what it ran with is gone or was never recorded)."""


def plan_rerun(ledger: Ledger, query: str) -> tuple[Plan, dict[str, Any]]:
    """A one-run plan: the run `query` names (id, id prefix or name), copied into a new run
    dir with its paths and id rewritten, and its provenance (the original's, marked as a rerun
    of it); nothing is written yet (`launch.emit.write_run` does)."""
    rec = ledger.find(query)
    old = Path(rec.run_dir)
    config, prov = read_object(old / "run.json"), read_object(old / "provenance.json")
    if config is None or prov is None or not (old / "launch.sh").is_file():
        raise RerunError(f"{rec.name} ({rec.id}): its run dir {old} lacks run.json, launch.sh or provenance.json; "
                         "it cannot be rerun exactly (launch its spec again with --force instead)")
    if not isinstance(prov.get("resources"), dict):
        raise RerunError(f"{rec.name} ({rec.id}) was launched by a labspec that did not record its resources; "
                         "launch its spec again with --force instead")
    code = prov.get("code") if isinstance(prov.get("code"), dict) else None
    if code is None or not Path(str(code.get("dir")), MANIFEST).is_file():
        where = f"its code snapshot {code.get('dir')} is gone" if code else "it ran no code snapshot"
        raise RerunError(f"{rec.name} ({rec.id}): {where}, so it cannot be rerun with the code it ran; launch its "
                         "spec again with --force to run it with the current code")
    n = 1
    while ledger.get(f"{rec.id}r{n}") is not None or Path(f"{old}-rerun{n}").exists():
        n += 1
    new_id, new_dir, new_name = f"{rec.id}r{n}", f"{old}-rerun{n}", f"{rec.name}-rerun{n}"

    def moved(text: str) -> str:
        return text.replace(str(old), new_dir)

    new_config: dict[str, Any] = json.loads(moved(json.dumps(config)))
    new_config.update(run_id=new_id, run_name=new_name)
    script = moved((old / "launch.sh").read_text(encoding="utf-8"))
    script = script.replace(f"LABSPEC_RUN_ID={rec.id}\n", f"LABSPEC_RUN_ID={new_id}\n")
    deepspeed = read_object(old / "deepspeed.json")
    run = Run(new_id, new_name, rec.stage, str(config.get("stage_type", rec.stage)), str(config.get("task")),
              tuple(config.get("depends_on") or ()), dict(prov.get("axes") or {}), new_dir, dict(prov["resources"]),
              str(prov.get("launcher", "python")), new_config, deepspeed, [], {}, script, rec.shards,
              dict(rec.coordinates))
    marked = {**prov, "run_id": new_id, "rerun_of": {"id": rec.id, "name": rec.name, "run_dir": rec.run_dir}}
    return Plan(rec.experiment, str(config.get("kind", "")), str(ledger.root), (run,)), marked
