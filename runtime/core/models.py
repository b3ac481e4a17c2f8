"""Models and their tokenizers or processors: where a model reference points (a local
folder relative to the run's base dir, or a hub id), the one dtype map, from_pretrained's
arguments from a `ModelRef`, and loading a model for inference.

A model larger than one GPU (a 72B solver on 4 GPUs) is spread over the job's GPUs
(`device_map="auto"`) when it is the only process of its job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runtime.core.errors import TaskInputError
from runtime.core.loaded import record as loaded_record
from specs.tasks import ModelRef

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}  # spec precision -> torch dtype name


def torch_dtype(name: str | None) -> Any:
    """The torch dtype of a spec precision ("bf16", ...); None for "auto" or unset."""
    import torch

    return getattr(torch, DTYPES[name]) if name in DTYPES else None


def resolve_model(name: str, base_dir: str, what: str = "model.name_or_path") -> str:
    """A model reference: a local folder (relative to base_dir) or a hub id ('org/name')."""
    p = Path(name)
    local = p.is_absolute() or name.startswith((".", "~")) or Path(base_dir, name).exists()
    if local or name.count("/") != 1:
        return require_model(str(p.expanduser() if p.is_absolute() or name.startswith("~")
                                 else Path(base_dir, name)), what)
    return require_model(name, what)


def require_model(path: str, what: str = "model.name_or_path") -> str:
    """A local model folder, or a hub id when the hub may be reached: else a clear error
    instead of a stack of retries."""
    p = Path(path)
    looks_local = p.is_absolute() or path.startswith((".", "~")) or p.exists() or path.count("/") != 1
    if p.is_dir():
        if not (p / "config.json").exists():
            raise TaskInputError(f"{what}: {path} is a folder but not a model (no config.json)")
        return path
    if p.exists():
        raise TaskInputError(f"{what}: {path} is a file, not a model: name the model's folder (the one holding "
                             "config.json and the weights) or a hub id")
    if looks_local:
        raise TaskInputError(f"{what}: {path} does not exist")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise TaskInputError(
            f"{what}: {path!r} is a hub id and the hub is offline here (HF_HUB_OFFLINE=1). Download it where "
            f"the hub is reachable (huggingface-cli download {path} --local-dir DIR), copy DIR to the cluster "
            "and set model.name_or_path to it")
    return path


def model_kwargs(model: ModelRef) -> dict[str, Any]:
    """from_pretrained arguments from a model reference."""
    out: dict[str, Any] = {}
    dtype = torch_dtype(model.dtype)
    if dtype is not None:
        out["dtype"] = dtype
    if model.revision:
        out["revision"] = model.revision
    if model.attn_implementation:
        out["attn_implementation"] = model.attn_implementation
    if model.trust_remote_code:
        out["trust_remote_code"] = True
    return out


def paths(model: ModelRef, base_dir: str, what: str = "model") -> tuple[str, str]:
    """(weights, tokenizer) folders or hub ids of a model reference, checked."""
    weights = resolve_model(model.name_or_path, base_dir, f"{what}.name_or_path")
    tokenizer = resolve_model(model.tokenizer or model.name_or_path, base_dir, f"{what}.tokenizer")
    return weights, tokenizer


def load_model(model: ModelRef, base_dir: str, vision: bool = False, role: str = "model") -> tuple[Any, Any]:
    """The model in eval mode and its tokenizer (left padding), or for a vision-language
    model its processor (tokenizer + image processor); `role` names it in loaded.json."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    path, tok_path = paths(model, base_dir)
    kwargs = {"dtype": "auto", **model_kwargs(model)}
    alone = int(os.environ.get("WORLD_SIZE", "1")) == 1  # one process: the job's GPUs are all its own
    if torch.cuda.device_count() > 1 and alone:
        kwargs["device_map"] = "auto"
    elif alone and os.environ.get("LABSPEC_REHEARSE_SPREAD") == "1" and not vision:
        kwargs.update(spread_on_cpu(path))  # a rehearsal of a spread model: dispatched in two parts, on CPU
    processing = load_processing(tok_path, vision)
    text_tokenizer(processing).padding_side = "left"
    try:
        auto = AutoModelForImageTextToText if vision else AutoModelForCausalLM
        loaded = auto.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"model.name_or_path: {path} is not a model this machine can load ({exc}); "
                             "download it where the hub is reachable and point the spec at the folder") from None
    loaded_record(role, loaded)
    loaded_record(f"{role}/processor" if vision else f"{role}/tokenizer", processing)
    tokenizer = text_tokenizer(processing)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    loaded.eval()
    if torch.cuda.is_available() and "device_map" not in kwargs:
        loaded = loaded.to("cuda")  # type: ignore[arg-type]
    return loaded, processing


def text_tokenizer(processing: Any) -> Any:
    """The tokenizer itself, whether given a tokenizer or a processor that holds one."""
    return getattr(processing, "tokenizer", processing)


def load_processing(model_path: str, vision: bool) -> Any:
    """The tokenizer, or the model's processor (tokenizer + image processor) for a VLM."""
    from transformers import AutoProcessor, AutoTokenizer

    try:
        if not vision:
            return AutoTokenizer.from_pretrained(model_path)
        try:
            return AutoProcessor.from_pretrained(model_path)
        except ImportError as exc:  # a processor that also reads video needs torchvision, for its video half
            if "torchvision" not in str(exc).lower():
                raise
            from runtime.core.vision import image_only_processor

            return image_only_processor(model_path, exc)
    except (OSError, ValueError, ImportError) as exc:
        what = "processor" if vision else "tokenizer"
        raise TaskInputError(f"model: cannot load a {what} from {model_path}: {exc}") from None


def spread_on_cpu(path: str) -> dict[str, Any]:
    """from_pretrained arguments that split a model in two, as a rehearsal of a model the real
    job spreads over its GPUs: the first half of its layers on the CPU, the second half
    offloaded to disk. accelerate dispatches it with the same hooks that move activations
    between GPUs, so generation through a split model runs here."""
    import tempfile

    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    with init_empty_weights():
        empty = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    blocks = [n for n, m in empty.named_modules() if type(m).__name__ in (empty._no_split_modules or ())]
    later = set(blocks[len(blocks) // 2:])
    device_map: dict[str, str] = {}

    def place(module: Any, prefix: str) -> None:
        for name, child in module.named_children():
            full = prefix + name
            if full in later:
                device_map[full] = "disk"
            elif any(b.startswith(full + ".") for b in later):
                place(child, full + ".")
            else:
                device_map[full] = "cpu"

    place(empty, "")
    scratch = os.environ.get("LABSPEC_RUN_DIR")  # the run dir's checkpoints/, else the system's temp
    where = Path(scratch, "checkpoints") if scratch else None
    if where is not None:
        where.mkdir(parents=True, exist_ok=True)
    return {"device_map": device_map, "offload_folder": tempfile.mkdtemp(prefix="spread-", dir=where)}


def render_prompt(tokenizer: Any, prompt: str, with_image: bool = False) -> str:
    """The prompt as the model reads it: through its chat template when it has one."""
    if with_image:
        from runtime.core.vision import user_turn

        rendered: str = tokenizer.apply_chat_template(user_turn(prompt, True), tokenize=False,
                                                      add_generation_prompt=True)
        return rendered
    if tokenizer.chat_template:
        text: str = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)
        return text
    return prompt
