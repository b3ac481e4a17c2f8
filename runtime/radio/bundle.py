"""The distilled encoder as one folder: the student (config.json + model.safetensors, loadable
alone as the MLLM's encoder), its adaptor heads, the teachers' PHI-S transforms and what the
teachers emit (radio.json), so the evaluation can map student outputs back to each teacher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.radio.adaptors import Adaptors, TeacherShape
from runtime.radio.phis import PhiS
from runtime.radio.student import Student


def save(path: Path, student: Student, adaptors: Adaptors, shapes: list[TeacherShape],
         phis: dict[str, PhiS]) -> None:
    from safetensors.torch import save_file

    student.save(path)
    save_file({k: v.detach().cpu().contiguous() for k, v in adaptors.state_dict().items()},
              str(path / "adaptors.safetensors"))
    if phis:
        save_file({f"{name}/{k}": v.contiguous() for name, p in phis.items() for k, v in p.state_dict().items()},
                  str(path / "phis.safetensors"))
    (path / "radio.json").write_text(json.dumps({
        "teachers": [{"name": s.name, "summary_dim": s.summary_dim, "feature_dim": s.feature_dim} for s in shapes],
        "phis": sorted(phis)}, indent=2))


def load(path: Path) -> tuple[Student, Adaptors, dict[str, PhiS], list[TeacherShape]]:
    from safetensors.torch import load_file

    meta: dict[str, Any] = json.loads((path / "radio.json").read_text())
    shapes = [TeacherShape(t["name"], t["summary_dim"], t["feature_dim"]) for t in meta["teachers"]]
    student = Student.load(path)
    adaptors = Adaptors(student.config.width, shapes)
    adaptors.load_state_dict(load_file(str(path / "adaptors.safetensors")))
    phis: dict[str, PhiS] = {}
    if meta["phis"]:
        flat = load_file(str(path / "phis.safetensors"))
        for name in meta["phis"]:
            phis[name] = PhiS.from_state_dict({k.split("/", 1)[1]: v for k, v in flat.items()
                                               if k.split("/", 1)[0] == name})
    return student.eval(), adaptors.eval(), phis, shapes
