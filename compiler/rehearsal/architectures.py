"""The architectures labspec's examples name, for rehearsals on machines without their
files: the model class, its config as published, and its tokenizer and processor kind.

A rehearsal model keeps the class and every structural setting (vocabulary layout, rope,
patch and image sizes, the vision merge) and shrinks width and depth. The dimensions are
public facts, copied from each model's `config.json` on the Hugging Face hub (the source
of each entry is named beside it). A model whose files are on disk (a local folder, or the
hub cache) is read from there instead.
"""

from __future__ import annotations

from typing import Any

QWEN25_TEXT: dict[str, Any] = {"model_type": "qwen2", "rope_theta": 1000000.0, "max_position_embeddings": 32768,
                               "hidden_act": "silu", "rms_norm_eps": 1e-6}


def _qwen25(hidden: int, layers: int, heads: int, kv: int, ffn: int, vocab: int, tie: bool) -> dict[str, Any]:
    return {"architecture": "Qwen2ForCausalLM", "tokenizer": "qwen2", "processor": "none",
            "config": {**QWEN25_TEXT, "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
                       "num_key_value_heads": kv, "intermediate_size": ffn, "vocab_size": vocab,
                       "tie_word_embeddings": tie}}


KNOWN: dict[str, dict[str, Any]] = {
    # Qwen2.5 instruct and base: huggingface.co/Qwen/Qwen2.5-<size>-Instruct/blob/main/config.json
    "Qwen/Qwen2.5-0.5B": _qwen25(896, 24, 14, 2, 4864, 151936, True),
    "Qwen/Qwen2.5-1.5B": _qwen25(1536, 28, 12, 2, 8960, 151936, True),
    "Qwen/Qwen2.5-3B": _qwen25(2048, 36, 16, 2, 11008, 151936, True),
    "Qwen/Qwen2.5-7B": _qwen25(3584, 28, 28, 4, 18944, 152064, False),
    "Qwen/Qwen2.5-14B": _qwen25(5120, 48, 40, 8, 13824, 152064, False),
    "Qwen/Qwen2.5-32B": _qwen25(5120, 64, 40, 8, 27648, 152064, False),
    "Qwen/Qwen2.5-72B": _qwen25(8192, 80, 64, 8, 29568, 152064, False),
    # huggingface.co/Qwen/Qwen2-VL-2B-Instruct/blob/main/config.json
    "Qwen/Qwen2-VL-2B": {
        "architecture": "Qwen2VLForConditionalGeneration", "tokenizer": "qwen2", "processor": "qwen2_vl",
        "config": {"model_type": "qwen2_vl", "hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12,
                   "num_key_value_heads": 2, "intermediate_size": 8960, "vocab_size": 151936,
                   "tie_word_embeddings": True, "rope_theta": 1000000.0, "max_position_embeddings": 32768,
                   "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
                   "vision_config": {"depth": 32, "embed_dim": 1280, "num_heads": 16, "mlp_ratio": 4,
                                     "hidden_size": 1536, "patch_size": 14, "spatial_merge_size": 2,
                                     "temporal_patch_size": 2, "in_chans": 3}}},
    # huggingface.co/openai/clip-vit-base-patch16/blob/main/config.json (vision tower)
    "openai/clip-vit-base-patch16": {
        "architecture": "CLIPVisionModel", "tokenizer": "none", "processor": "clip",
        "config": {"model_type": "clip_vision_model", "hidden_size": 768, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "intermediate_size": 3072, "image_size": 224, "patch_size": 16,
                   "projection_dim": 512}},
    # huggingface.co/google/siglip-base-patch16-224/blob/main/config.json (vision tower)
    "google/siglip-base-patch16-224": {
        "architecture": "SiglipVisionModel", "tokenizer": "none", "processor": "siglip",
        "config": {"model_type": "siglip_vision_model", "hidden_size": 768, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "intermediate_size": 3072, "image_size": 224, "patch_size": 16}},
    # huggingface.co/facebook/dinov2-base/blob/main/config.json
    "facebook/dinov2-base": {
        "architecture": "Dinov2Model", "tokenizer": "none", "processor": "dinov2",
        "config": {"model_type": "dinov2", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                   "mlp_ratio": 4, "image_size": 518, "patch_size": 14}},
    # huggingface.co/facebook/convnextv2-base-22k-224/blob/main/config.json
    "facebook/convnextv2-base-22k-224": {
        "architecture": "ConvNextV2Model", "tokenizer": "none", "processor": "convnext",
        "config": {"model_type": "convnextv2", "hidden_sizes": [128, 256, 512, 1024], "depths": [3, 3, 27, 3],
                   "num_channels": 3, "patch_size": 4, "num_stages": 4, "image_size": 224}},
    # huggingface.co/facebook/sam-vit-base/blob/main/config.json (vision encoder)
    "facebook/sam-vit-base": {
        "architecture": "SamVisionModel", "tokenizer": "none", "processor": "sam",
        "config": {"model_type": "sam_vision_model", "hidden_size": 768, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "mlp_dim": 3072, "image_size": 1024, "patch_size": 16,
                   "output_channels": 256, "window_size": 14, "global_attn_indexes": [2, 5, 8, 11]}},
}

# model_type -> (architecture, tokenizer kind, processor kind), for configs read from disk
FAMILIES: dict[str, tuple[str, str, str]] = {
    "qwen2": ("Qwen2ForCausalLM", "qwen2", "none"),
    "llama": ("LlamaForCausalLM", "copy", "none"),
    "qwen2_vl": ("Qwen2VLForConditionalGeneration", "qwen2", "qwen2_vl"),
    "clip": ("CLIPVisionModel", "none", "clip"),
    "clip_vision_model": ("CLIPVisionModel", "none", "clip"),
    "siglip": ("SiglipVisionModel", "none", "siglip"),
    "siglip_vision_model": ("SiglipVisionModel", "none", "siglip"),
    "dinov2": ("Dinov2Model", "none", "dinov2"),
    "sam": ("SamVisionModel", "none", "sam"),
    "sam_vision_model": ("SamVisionModel", "none", "sam"),
    "convnext": ("ConvNextModel", "none", "convnext"),
    "convnextv2": ("ConvNextV2Model", "none", "convnext"),
}

# the widths and depths a rehearsal model gets (everything else stays as published)
# initializer_range: at the published 0.02 a random model this small answers every prompt with
# newlines only (empty after stripping); at 0.3 its greedy answers are varied non-empty text
SMALL_TEXT = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "intermediate_size": 128, "max_position_embeddings": 2048, "initializer_range": 0.3}
SMALL_VISION = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                "projection_dim": 32, "mlp_dim": 64, "output_channels": 16}
SMALL_QWEN2_VL_VISION = {"depth": 2, "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2}
SMALL_CONVNEXT = {"hidden_sizes": [8, 16, 24, 32], "depths": [1, 1, 1, 1]}  # the four stages (strides) kept


def known(name: str) -> dict[str, Any] | None:
    """The table's entry for a hub id (instruct and base share their shapes)."""
    base = name.removesuffix("-Instruct")
    return KNOWN.get(name) or KNOWN.get(base)
