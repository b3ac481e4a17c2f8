"""What a run actually loaded: the class of each model, tokenizer and processor, in
`outputs/loaded.json` of its run dir.

Why: a plan names models by path, and transformers' Auto classes pick the class from the
files; a rehearsal (or a puzzled user) checks here that Qwen2-VL ran as
Qwen2VLForConditionalGeneration with its own processor, and how a spread model was placed.
Rank 0 writes; the file is a small JSON object, role -> what was loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE = "outputs/loaded.json"


def record(role: str, obj: Any, **extra: Any) -> None:
    """Note `obj`'s class (a PEFT or DeepSpeed wrapper is looked through) under `role`."""
    run_dir = os.environ.get("LABSPEC_RUN_DIR")
    if not run_dir or os.environ.get("RANK", "0") != "0":
        return
    inner = obj
    for attribute in ("module", "base_model", "model"):  # DeepSpeed engine, PEFT model, LoRA layer holder
        if type(inner).__name__.startswith(("DeepSpeed", "Peft", "Lora")) and hasattr(inner, attribute):
            inner = getattr(inner, attribute)
    entry: dict[str, Any] = {"class": type(inner).__name__, **extra}
    if type(inner) is not type(obj):
        entry["wrapped_in"] = type(obj).__name__
    placement = getattr(inner, "hf_device_map", None)
    if placement:
        entry["device_map"] = sorted({str(v) for v in placement.values()})
    for part in ("tokenizer", "image_processor"):
        if hasattr(obj, part) and getattr(obj, part) is not None:
            entry[part] = type(getattr(obj, part)).__name__
    note(role, entry)


def note(role: str, entry: dict[str, Any]) -> None:
    """Write `entry` under `role` as it is (a model loaded by another engine, e.g. vLLM)."""
    run_dir = os.environ.get("LABSPEC_RUN_DIR")
    if not run_dir or os.environ.get("RANK", "0") != "0":
        return
    path = Path(run_dir, FILE)
    known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    known[role] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)

