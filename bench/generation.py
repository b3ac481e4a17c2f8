"""Benchmark: the runtime's batched `generate` against a one-prompt-at-a-time
`model.generate` loop, same model (the tiny fixtures' wider LM), same 128 prompts,
greedy, 16 new tokens, on this machine's CPU. Goal: at least 5x the throughput."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    import torch

    from runtime.core.models import load_model, render_prompt
    from runtime.core.sampling import generate_batched
    from runtime.fixtures.tiny import build_all
    from specs.sections import GenerationSettings
    from specs.tasks import ModelRef

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        build_all(Path(tmp))
        model, tok = load_model(ModelRef(name_or_path=str(Path(tmp, "tiny-lm-wide")), dtype="fp32"), "/")
        rows = Path(tmp, "tiny-chat", "train.jsonl").read_text().splitlines()[:128]
        prompts = [json.loads(r)["prompt"] for r in rows]
        gen = GenerationSettings(max_new_tokens=16, batch_size=64)
        generate_batched(model, tok, prompts[:8], gen)  # warm up
        t = time.perf_counter()
        batched = generate_batched(model, tok, prompts, gen)
        t_batched = time.perf_counter() - t
        t = time.perf_counter()
        loop = []
        for p in prompts:
            enc = tok(render_prompt(tok, p), return_tensors="pt", add_special_tokens=False)
            with torch.no_grad():
                seq = model.generate(**enc, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)
            loop.append(tok.decode(seq[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip())
        t_loop = time.perf_counter() - t
    same = sum(b[0] == one for b, one in zip(batched, loop, strict=True))
    print("greedy generation, 128 prompts x 16 new tokens, tiny Qwen2-shaped LM, 2 CPU threads")
    print(f"  runtime generate (batched 64, length-sorted): {t_batched:6.2f} s  {128 / t_batched:7.1f} prompts/s")
    print(f"  one prompt at a time (model.generate loop):   {t_loop:6.2f} s  {128 / t_loop:7.1f} prompts/s")
    print(f"  speed-up: {t_loop / t_batched:.1f}x   goal: >= 5x   identical answers: {same}/128")
    return 0


if __name__ == "__main__":
    sys.exit(main())
