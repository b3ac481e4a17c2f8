"""Task `generate`: batched sampling from a model over a prompt file.

Left padding and the KV cache, batches sorted by prompt length (little padding), the
spec's sampling parameters, `num_samples` answers per prompt. Sharded over array tasks
(`LABSPEC_SHARD` of `LABSPEC_NUM_SHARDS`): each shard writes its own JSONL, appending
batch by batch, so a requeued shard continues after the prompts it already answered;
the shard that completes the set merges them into `outputs/generations.jsonl`.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from runtime import data
from runtime.errors import TaskInputError
from runtime.io import atomic_write_json


def load_model(model_cfg: dict[str, Any], base_dir: str, vision: bool = False) -> tuple[Any, Any]:
    """The model in eval mode and its tokenizer (left padding), or for a vision-language
    model its processor (tokenizer + image processor)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    path = data.resolve_model(model_cfg["name_or_path"], base_dir)
    tok_path = data.resolve_model(model_cfg.get("tokenizer") or model_cfg["name_or_path"], base_dir,
                                  "model.tokenizer")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(model_cfg.get("dtype", ""),
                                                                                        "auto")
    # a model larger than one GPU (a 72B solver on 4 GPUs) is spread over this process's GPUs
    alone = int(os.environ.get("WORLD_SIZE", "1")) == 1  # one process: the job's GPUs are all its own
    spread = {"device_map": "auto"} if torch.cuda.device_count() > 1 and alone else {}
    try:
        if vision:
            processing = AutoProcessor.from_pretrained(tok_path)
            processing.tokenizer.padding_side = "left"
            model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype, **spread)
        else:
            processing = AutoTokenizer.from_pretrained(tok_path, padding_side="left")
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **spread)
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"model.name_or_path: {path} is not a model this machine can load ({exc}); "
                             "download it where the hub is reachable and point the spec at the folder") from None
    tokenizer = text_tokenizer(processing)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    if torch.cuda.is_available() and not spread:
        model = model.to("cuda")  # type: ignore[arg-type]
    return model, processing


def text_tokenizer(processing: Any) -> Any:
    """The tokenizer itself, whether given a tokenizer or a processor that holds one."""
    return getattr(processing, "tokenizer", processing)


def render_prompt(tokenizer: Any, prompt: str, with_image: bool = False) -> str:
    if with_image:
        from runtime.vision import user_turn

        rendered: str = tokenizer.apply_chat_template(user_turn(prompt, True), tokenize=False,
                                                      add_generation_prompt=True)
        return rendered
    if tokenizer.chat_template:
        text: str = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)
        return text
    return prompt


def generate_batched(model: Any, tokenizer: Any, prompts: list[str], gen: dict[str, Any],
                     on_batch: Any = None, images: list[str] | None = None) -> list[list[str]]:
    """Answers (num_samples each) for `prompts`, in their order; batches by length.
    With `images` (one path per prompt) `tokenizer` is the model's processor."""
    import torch

    from runtime.vision import open_image

    tok = text_tokenizer(tokenizer)
    texts = [render_prompt(tokenizer, p, images is not None) for p in prompts]
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    n = int(gen.get("num_samples", 1))
    sample = float(gen.get("temperature", 0.0)) > 0
    kwargs: dict[str, Any] = {"max_new_tokens": int(gen.get("max_new_tokens", 64)), "do_sample": sample,
                              "num_return_sequences": n, "pad_token_id": tok.pad_token_id}
    if sample:
        kwargs.update(temperature=float(gen["temperature"]), top_p=float(gen.get("top_p", 1.0)))
        if gen.get("top_k"):
            kwargs["top_k"] = int(gen["top_k"])
    out: list[list[str]] = [[] for _ in texts]
    size = int(gen.get("batch_size", 16))
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        batch = [texts[i] for i in idx]
        if images is None:
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        else:
            enc = tokenizer(text=batch, images=[open_image(images[i], images[i], i) for i in idx],
                            return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(model.device) for k, v in enc.items()}
        with torch.no_grad():
            seqs = model.generate(**enc, **kwargs)
        new = seqs[:, enc["input_ids"].shape[1]:]
        decoded = tok.batch_decode(new, skip_special_tokens=True)
        for j, i in enumerate(idx):
            out[i] = [d.strip() for d in decoded[j * n:(j + 1) * n]]
        if on_batch is not None:
            on_batch([(i, out[i]) for i in idx])
    return out


def run(config: dict[str, Any]) -> int:
    import torch

    tc = config["task_config"]
    base = config["base_dir"]
    gen = tc.get("generation", {})
    fields = tc.get("fields", {})
    prompts_path = str(data.resolve(tc["prompts"], base))
    ds = data.load(prompts_path, fields.get("format", "jsonl"), "prompts")
    field = fields.get("prompt_field", "prompt")
    ds = data.require_columns(ds, [field], prompts_path, "data.prompt_field")
    rows = list(range(len(ds)))
    fraction = float(tc.get("prompt_fraction", 1.0))
    seed = int(tc.get("sample_seed", config.get("seed", 0)))
    if fraction < 1.0:
        rows = sorted(random.Random(seed).sample(rows, max(1, int(len(rows) * fraction))))
    shard, shards = int(os.environ.get("LABSPEC_SHARD", 0)), int(os.environ.get("LABSPEC_NUM_SHARDS", 1))
    mine = rows[shard::shards]
    out_dir = Path(config["paths"]["outputs"])
    out_dir.mkdir(parents=True, exist_ok=True)
    part = out_dir / f"generations.shard{shard}-of-{shards}.jsonl"
    done = _answered(part)
    todo = [i for i in mine if i not in done]
    torch.manual_seed(seed + shard)
    print(f"generate: shard {shard}/{shards}: {len(mine)} prompts, {len(mine) - len(todo)} already answered",
          flush=True)
    model, tokenizer = load_model(tc["model"], base) if todo else (None, None)
    started, count, new_tokens = time.time(), len(done), 0

    with open(part, "a", encoding="utf-8") as fh:
        def write(batch: list[tuple[int, list[str]]]) -> None:
            nonlocal count, new_tokens
            for k, answers in batch:
                new_tokens += sum(len(text_tokenizer(tokenizer)(a, add_special_tokens=False)["input_ids"])
                                  for a in answers)
                row = ds[todo[k]]
                fh.write(json.dumps({"index": todo[k], "prompt": row[field], "generations": answers,
                                     **{c: row[c] for c in ds.column_names if c != field}}) + "\n")
            fh.flush()
            count += len(batch)
            print(f"generate: {count}/{len(mine)} prompts ({time.time() - started:.1f}s)", file=sys.stderr,
                  flush=True)

        if todo:
            texts = [str(ds[i][field]) for i in todo]
            if tc.get("prompt_style") == "cot":  # chain-of-thought prompts, with exemplars when asked
                from runtime.reasoning.chains import prompt

                shots = exemplars(tc, base)
                texts = [prompt(t, shots) for t in texts]
            generate_batched(model, tokenizer, texts, gen, on_batch=write)
    atomic_write_json(out_dir / f".shard{shard}-of-{shards}.done", {
        "prompts": len(todo), "new_tokens": new_tokens, "seconds": time.time() - started})
    if _merge_when_complete(out_dir, shards, Path(config["outputs"]["generations"])):
        stats = [json.loads((out_dir / f".shard{k}-of-{shards}.done").read_text()) for k in range(shards)]
        seconds = sum(s["seconds"] for s in stats)
        atomic_write_json(Path(config["outputs"]["metrics"]), {
            "primary_metric": "prompts", "prompts": len(rows), "shards": shards,
            "samples_per_prompt": int(gen.get("num_samples", 1)),
            # throughput of one shard's process (per GPU), over what this attempt generated
            "new_tokens": sum(s["new_tokens"] for s in stats), "generation_seconds": seconds,
            "tokens_per_second": sum(s["new_tokens"] for s in stats) / seconds if seconds else 0.0,
            "prompts_per_second": sum(s["prompts"] for s in stats) / seconds if seconds else 0.0})
    return 0


def exemplars(tc: dict[str, Any], base: str) -> list[str]:
    """`few_shot` worked examples for a chain-of-thought prompt: the first rows of
    `few_shot_file` (else of the prompts file) with their gold rationale and answer."""
    k = int(tc.get("few_shot") or 0)
    if not k:
        return []
    from runtime.reasoning.chains import exemplar

    fields = tc.get("fields", {})
    path = str(data.resolve(tc.get("few_shot_file") or tc["prompts"], base))
    ds = data.load(path, "jsonl" if tc.get("few_shot_file") else fields.get("format", "jsonl"),
                   "reasoning.bootstrap.few_shot_file")
    q, a = fields.get("prompt_field", "prompt"), fields.get("completion_field", "completion")
    ds = data.require_columns(ds, [q, a], path, "data.prompt_field / data.completion_field")
    return [exemplar(ds[i], q, a) for i in range(min(k, len(ds)))]


def _answered(part: Path) -> set[int]:
    """Prompts a previous attempt of this shard answered; a line cut by the kill is dropped."""
    if not part.exists():
        return set()
    seen, good = set(), []
    for line in part.read_text(encoding="utf-8").splitlines():
        try:
            seen.add(int(json.loads(line)["index"]))
            good.append(line)
        except (ValueError, KeyError):
            part.write_text("".join(g + "\n" for g in good), encoding="utf-8")
            break
    return seen


def _merge_when_complete(out_dir: Path, shards: int, target: Path) -> bool:
    """Merge the shards' files into `target` once every shard is done; True if merged."""
    if not all((out_dir / f".shard{k}-of-{shards}.done").exists() for k in range(shards)):
        return False
    rows: dict[int, str] = {}
    for k in range(shards):
        for line in (out_dir / f"generations.shard{k}-of-{shards}.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                rows[int(json.loads(line)["index"])] = line
            except (ValueError, KeyError):
                continue
    import socket
    import uuid

    # shards on different nodes may merge at once: each writes its own temporary file
    tmp = target.with_name(f".{target.name}.{socket.gethostname()}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text("".join(rows[i] + "\n" for i in sorted(rows)), encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True
