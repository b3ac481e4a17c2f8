"""Per-GPU memory of model states by ZeRO stage (the ZeRO paper's accounting).

With mixed precision and Adam, a model of P parameters holds 2P bytes of 16-bit
weights, 2P of gradients and 12P of optimizer state (fp32 master copy, momentum,
variance). ZeRO-1 shards the optimizer state over the N data-parallel GPUs, ZeRO-2
the gradients too, ZeRO-3 everything; offload moves a part to the CPU. Activations are
not counted: the estimate is a floor, and a warning when even the floor does not fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from specs.sections import DeepSpeedSpec, TrainingSpec

# optimizer state bytes per trainable parameter (fp32), without the master copy
STATE_BYTES = {"adamw": 8, "adam": 8, "lion": 4, "rmsprop": 4, "sgd": 4, "adafactor": 1}
LORA_TRAINABLE = 0.01  # a typical LoRA trains about 1% of the parameters
GIB = 1024**3


@dataclass(frozen=True)
class Estimate:
    weights: float
    gradients: float
    optimizer: float
    reference: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.reference

    def describe(self) -> str:
        parts = [f"weights {self.weights / GIB:.1f}", f"gradients {self.gradients / GIB:.1f}",
                 f"optimizer {self.optimizer / GIB:.1f}"]
        if self.reference:
            parts.append(f"reference model {self.reference / GIB:.1f}")
        return f"~{self.total / GIB:.1f} GiB per GPU ({', '.join(parts)} GiB)"


def training_states(params: int, training: TrainingSpec, ds: DeepSpeedSpec | None, world: int,
                    lora: bool = False, reference_model: bool = False) -> Estimate:
    half = training.precision in ("bf16", "fp16")
    wbytes = 2 if half else 4
    stage = ds.zero_stage if ds is not None and ds.enabled else 0
    trainable = params * (LORA_TRAINABLE if lora else 1.0)
    weights = float(params * wbytes)
    grads = trainable * wbytes
    optim = trainable * (STATE_BYTES[training.optimizer] + (4 if half else 0))
    n = max(world, 1)
    if stage >= 1:
        optim /= n
    if stage >= 2:
        grads /= n
    if stage == 3:
        weights /= n
    if ds is not None and ds.enabled and stage >= 1 and ds.offload_optimizer.device != "none":
        optim = 0.0
    if ds is not None and ds.enabled and stage == 3 and ds.offload_param.device != "none":
        weights = 0.0
    ref = params * wbytes / (n if stage == 3 else 1) if reference_model and not lora else 0.0
    return Estimate(weights, grads, optim, ref)


def params_from_config(model_dir: str) -> int | None:
    """Estimate a decoder's parameter count from a local config.json, if there is one."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
        cfg = cfg.get("text_config", cfg)
        h = int(cfg["hidden_size"])
        layers = int(cfg["num_hidden_layers"])
        vocab = int(cfg.get("vocab_size", 32000))
        inter = int(cfg.get("intermediate_size", 4 * h))
        heads = int(cfg.get("num_attention_heads", 1))
        kv = int(cfg.get("num_key_value_heads", heads))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    head_dim = h // max(heads, 1)
    attn = h * h * 2 + 2 * h * kv * head_dim  # q, o and the (grouped) k, v projections
    mlp = 3 * h * inter if cfg.get("hidden_act", "silu") in ("silu", "swiglu") else 2 * h * inter
    embed = vocab * h * (1 if cfg.get("tie_word_embeddings", False) else 2)
    return layers * (attn + mlp) + embed
