"""Batched sampling with transformers' generate: left padding and the KV cache, prompts
sorted by length (little padding), the spec's sampling parameters, `num_samples`
answers per prompt, images through a VLM's processor.

`load_for_generation` opens the model for the spec's `generation.backend`; with `vllm` it is
an engine (`runtime.core.vllm_engine.Engine`) that `generate_batched` hands the prompts to,
so a task's code is the same for both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.core.models import load_model, render_prompt, text_tokenizer
from specs.sections import GenerationSettings
from specs.tasks import ModelRef


def load_for_generation(model: ModelRef, base_dir: str, gen: GenerationSettings, vision: bool = False,
                        role: str = "model") -> tuple[Any, Any]:
    """(model, tokenizer or processor) for `gen.backend`: transformers' model, or a vLLM
    engine, which `release` shuts down."""
    if gen.backend == "vllm":
        from runtime.core.vllm_engine import open_engine

        engine = open_engine(model, base_dir, gen, vision, role)
        return engine, engine.processing
    return load_model(model, base_dir, vision=vision, role=role)


def release(model: Any) -> None:
    """Shut down a vLLM engine now (transformers' model needs nothing)."""
    if getattr(model, "is_vllm_engine", False):
        model.close()


def cut_at_stop(text: str, stop: list[str]) -> str:
    """The text before the first stop string (the stop string itself dropped), as both
    backends return it."""
    cut = min((i for s in stop if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


def generate_batched(model: Any, tokenizer: Any, prompts: list[str], gen: GenerationSettings,
                     on_batch: Callable[[list[tuple[int, list[str]]]], None] | None = None,
                     images: list[str] | None = None, keys: list[int] | None = None) -> list[list[str]]:
    """Answers (gen.num_samples each) for `prompts`, in their order; batches by length.
    With `images` (one path per prompt) `tokenizer` is the model's processor. A vLLM
    engine as `model` generates them itself, with the same prompts and decoding, and seeds
    each prompt's sampling from `keys` (`gen.seed`, vllm only)."""
    if getattr(model, "is_vllm_engine", False):
        answers: list[list[str]] = model.generate(prompts, gen, on_batch, images, keys)
        return answers
    import torch

    from runtime.core.vision import open_image

    tok = text_tokenizer(tokenizer)
    texts = [render_prompt(tokenizer, p, images is not None) for p in prompts]
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    n = gen.num_samples
    sample = gen.temperature > 0
    kwargs: dict[str, Any] = {"max_new_tokens": gen.max_new_tokens, "do_sample": sample,
                              "num_return_sequences": n, "pad_token_id": tok.pad_token_id}
    if sample:
        kwargs.update(temperature=gen.temperature, top_p=gen.top_p)
        if gen.top_k:
            kwargs["top_k"] = gen.top_k
    if gen.stop:
        kwargs.update(stop_strings=list(gen.stop), tokenizer=tok)
    out: list[list[str]] = [[] for _ in texts]
    for start in range(0, len(order), gen.batch_size):
        idx = order[start:start + gen.batch_size]
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
            out[i] = [cut_at_stop(d, gen.stop).strip() for d in decoded[j * n:(j + 1) * n]]
        if on_batch is not None:
            on_batch([(i, out[i]) for i in idx])
    return out
