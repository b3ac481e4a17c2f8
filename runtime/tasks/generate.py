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

from runtime.core import data, registry, results
from runtime.core.io import atomic_write_json
from runtime.core.models import text_tokenizer
from runtime.core.sampling import generate_batched, load_for_generation, release
from specs.tasks import DatasetRef, RunConfig
from specs.tasks.generic import GenerateTask


def run(run: RunConfig, tc: GenerateTask) -> int:
    import torch

    gen = tc.generation
    ds, prompts_path = data.load_ref(tc.prompts, run.base_dir, "prompts")
    field = tc.prompts.prompt_field
    ds = data.require_columns(ds, [field], prompts_path, "data.prompt_field")
    rows = list(range(len(ds)))
    if tc.prompt_fraction < 1.0:
        rows = sorted(random.Random(tc.sample_seed).sample(rows, max(1, int(len(rows) * tc.prompt_fraction))))
    shard, shards = int(os.environ.get("LABSPEC_SHARD", 0)), int(os.environ.get("LABSPEC_NUM_SHARDS", 1))
    mine = rows[shard::shards]
    out_dir = Path(run.paths["outputs"])
    out_dir.mkdir(parents=True, exist_ok=True)
    part = out_dir / f"generations.shard{shard}-of-{shards}.jsonl"
    done = _answered(part)
    todo = [i for i in mine if i not in done]
    torch.manual_seed(tc.sample_seed + shard)
    print(f"generate: shard {shard}/{shards}: {len(mine)} prompts, {len(mine) - len(todo)} already answered",
          flush=True)
    loading = time.time()
    model, tokenizer = load_for_generation(tc.model, run.base_dir, gen) if todo else (None, None)
    startup = time.time() - loading  # the model's load, or the vLLM engine's start
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
            style = registry.lookup(registry.PROMPT_STYLES, "prompt style", tc.prompt_style)
            shots = exemplars(tc.exemplars or tc.prompts, tc.few_shot, tc.prompt_style, run.base_dir)
            texts = [style(str(ds[i][field]), shots) for i in todo]
            try:
                generate_batched(model, tokenizer, texts, gen, on_batch=write, keys=todo)
            finally:
                release(model)
    atomic_write_json(out_dir / f".shard{shard}-of-{shards}.done", {
        "prompts": len(todo), "new_tokens": new_tokens, "seconds": time.time() - started,
        "startup_seconds": startup})
    if _merge_when_complete(out_dir, shards, Path(run.outputs["generations"])):
        stats = [json.loads((out_dir / f".shard{k}-of-{shards}.done").read_text()) for k in range(shards)]
        seconds = sum(s["seconds"] for s in stats)
        results.finish(run, {
            "prompts": len(rows), "shards": shards, "samples_per_prompt": gen.num_samples,
            # throughput of one shard's process (per GPU), over what this attempt generated
            "new_tokens": sum(s["new_tokens"] for s in stats), "generation_seconds": seconds,
            "tokens_per_second": sum(s["new_tokens"] for s in stats) / seconds if seconds else 0.0,
            "prompts_per_second": sum(s["prompts"] for s in stats) / seconds if seconds else 0.0,
            "startup_seconds": max(s.get("startup_seconds", 0.0) for s in stats)},
            primary="prompts", tb_prefix="generate/")
    return 0


def exemplars(ref: DatasetRef, k: int, style: str, base_dir: str) -> list[str]:
    """`k` worked examples for a prompt style: the first rows of `ref` with their gold
    answers, written as the style writes them."""
    if not k:
        return []
    write = registry.EXEMPLARS.get(style, plain_exemplar)
    ds, path = data.load_ref(ref, base_dir, "few-shot exemplars")
    q, a = ref.prompt_field, ref.completion_field
    ds = data.require_columns(ds, [q, a], path, "data.prompt_field / data.completion_field")
    return [write(ds[i], q, a) for i in range(min(k, len(ds)))]


def plain_exemplar(row: dict[str, Any], question: str, answer: str) -> str:
    return f"{row[question]}\n{row[answer]}"


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
