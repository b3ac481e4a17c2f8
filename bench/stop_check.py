"""Benchmark: the step time of TRL's SFTTrainer (LoRA) with no stop callback, with the
per-step check labspec had before (a tensor, an all-reduce and `.item()` every step: a
host-device synchronisation per step on a GPU) and with the runtime's callback now
(`runtime.core.training.preemption_callback`: a flag read per step, a collective every N).

In one process, interleaved (A B C, B C A, ...), `--repeat` times; the median step time
after `--warmup` steps. bench/gpu_check.py runs it at Qwen2.5-0.5B shape on the GPU; here
`python -m bench.stop_check --model DIR` runs it on any causal LM folder with a tokenizer.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Any, cast

VARIANTS = ("none", "sync every step (before)", "runtime (now)")


def per_step_sync_callback() -> Any:
    """The check as it was: every step, a tensor on the device, an all-reduce, `.item()`."""
    import torch
    import torch.distributed as dist
    from transformers import TrainerCallback

    class SyncEveryStep(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            requested = torch.tensor([0.0], device=args.device)
            if dist.is_initialized():
                dist.all_reduce(requested)
            if requested.item() > 0:
                control.should_training_stop = True
            return control

    return SyncEveryStep()


def step_times(model: str, variant: str, steps: int, warmup: int, seq: int, batch: int, cpu: bool) -> list[float]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from runtime.core.training import preemption_callback

    tok = AutoTokenizer.from_pretrained(model)
    rng = random.Random(0)
    vocab = [t for t in tok.get_vocab() if t.isalpha()][:2000] or list("abcdefgh")
    rows = [{"text": " ".join(rng.choice(vocab) for _ in range(seq))} for _ in range(batch * (steps + 2))]
    times: list[float] = []

    class Clock(TrainerCallback):
        last = 0.0

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # the clock's own sync, the same in every variant
            now = time.perf_counter()
            if state.global_step > warmup:
                times.append(now - Clock.last)
            Clock.last = now
            return control

    callbacks: list[Any] = [Clock()]
    if variant == VARIANTS[1]:
        callbacks.insert(0, per_step_sync_callback())
    elif variant == VARIANTS[2]:
        run = SimpleNamespace(training=SimpleNamespace(stop_check_steps=None))  # all the callback reads
        callbacks.insert(0, preemption_callback(cast(Any, run)))
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, max_steps=steps + warmup, per_device_train_batch_size=batch,
                         learning_rate=1e-4, logging_steps=10, report_to=[], save_strategy="no",
                         bf16=not cpu, use_cpu=cpu, max_length=seq, disable_tqdm=True, gradient_checkpointing=False,
                         dataloader_num_workers=0, packing=False)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                             peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                    task_type="CAUSAL_LM"),
                             callbacks=callbacks)
        trainer.train()
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a causal LM folder with its tokenizer")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seq", type=int, default=256, help="tokens per row (about)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--cpu", action="store_true")
    opts = ap.parse_args(argv)
    medians: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(opts.repeat):
        for variant in VARIANTS[rep % 3:] + VARIANTS[:rep % 3]:
            times = step_times(opts.model, variant, opts.steps, opts.warmup, opts.seq, opts.batch, opts.cpu)
            medians[variant].append(statistics.median(times))
    base = statistics.median(medians[VARIANTS[0]])
    print(f"SFT with LoRA, {opts.model}, batch {opts.batch} x about {opts.seq} tokens, median step time of "
          f"{opts.steps} steps, {opts.repeat} interleaved repetitions:")
    for variant in VARIANTS:
        m = statistics.median(medians[variant])
        print(f"  {variant:<26} {m * 1e3:8.2f} ms  ({100 * (m / base - 1):+5.1f}% vs none)  "
              f"runs: {[round(x * 1e3, 2) for x in medians[variant]]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
