"""Rehearsal models: the source model's class with random weights and the config the
compiler chose (its own, width and depth shrunk), with a tokenizer and processor of the
source's classes: copied from its files when they are on disk, else built here in the
same format (Qwen's byte-level BPE, its special tokens and chat template; the vision
models' own image processors).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from specs.tasks.rehearsal import RehearsalModel

QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                 "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                 "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen2.5-Instruct's chat template without its tool-calling branches (the same turns and markers)
QWEN25_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if (message.role == 'user') or (message.role == 'system' and not loop.first)"
    " or (message.role == 'assistant') %}{{- '<|im_start|>' + message.role + '\\n' + message.content + "
    "'<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
# Qwen2-VL-Instruct's chat template, as published
QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or "
    "'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
CORPUS = ["What is 12 + 7? The answer is 19.", "Write the LaTeX for this formula. \\frac { a } { b } ^ { 2 }",
          "Solve the problem step by step, then write \"The answer is <answer>.\"", "Question: Answer: Plan:",
          " ".join(str(i) for i in range(-50, 200)), "x_{i} + y^{2} = \\alpha \\beta \\sum_{k=1}^{n} \\sqrt{z}",
          "A red square on the left. A blue circle at the top. Describe the image. What colour is it?"]


def build(spec: RehearsalModel, out: Path) -> dict[str, Any]:
    """Build the model into `out`; returns what was built (class names, parameters)."""
    import torch
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(spec, out)
    config = dict(spec.config)
    if tokenizer is not None and spec.tokenizer == "qwen2":
        config.update(_token_ids(tokenizer, spec))
    model_type = config.pop("model_type")
    torch.manual_seed(spec.seed)
    cls = getattr(transformers, spec.architecture)
    model = cls(transformers.AutoConfig.for_model(model_type, **config))
    if tokenizer is not None and hasattr(model, "generation_config"):
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    processor = _processor(spec, out, tokenizer)
    return {"source": spec.source, "class": type(model).__name__,
            "tokenizer": type(tokenizer).__name__ if tokenizer is not None else None, "processor": processor,
            "parameters": sum(p.numel() for p in model.parameters())}


def _tokenizer(spec: RehearsalModel, out: Path) -> Any:
    from transformers import AutoTokenizer

    if spec.tokenizer == "none":
        return None
    if spec.tokenizer == "copy" and spec.files_from:
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                     "tokenizer.model", "chat_template.jinja", "added_tokens.json"):
            if Path(spec.files_from, name).is_file():
                shutil.copy(Path(spec.files_from, name), out / name)
        return AutoTokenizer.from_pretrained(out)
    return _qwen_tokenizer(out, QWEN2_VL_TEMPLATE if spec.processor == "qwen2_vl" else QWEN25_TEMPLATE)


def _qwen_tokenizer(out: Path, template: str) -> Any:
    """A byte-level BPE trained here, in Qwen2's tokenizer class, with Qwen's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(
        vocab_size=1024, special_tokens=QWEN_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    # as Qwen2.5-Instruct's tokenizer_config.json: no unk or bos token
    tokenizer = Qwen2Tokenizer(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                               unk_token=None, bos_token=None, errors="replace")  # type: ignore[arg-type]
    tokenizer.chat_template = template
    tokenizer.save_pretrained(out)
    return tokenizer


def _token_ids(tokenizer: Any, spec: RehearsalModel) -> dict[str, Any]:
    """The config's token ids and vocabulary, as the tokenizer built here has them."""
    ids: dict[str, Any] = {"vocab_size": len(tokenizer), "eos_token_id": tokenizer.eos_token_id,
                           "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None}
    if spec.processor == "qwen2_vl":
        for key, token in (("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                           ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")):
            ids[key] = tokenizer.convert_tokens_to_ids(token)
    if spec.config.get("vocab_size", 0) > len(tokenizer) and spec.config.get("hidden_size", 0) > 512:
        ids["vocab_size"] = spec.config["vocab_size"]  # real shapes: the real embedding size
    return ids


def _processor(spec: RehearsalModel, out: Path, tokenizer: Any) -> str | None:
    """Save the processor files (image processor, and for a VLM the processor's config)."""
    import json

    import transformers

    if spec.processor == "none":
        return None
    if spec.files_from and Path(spec.files_from, "preprocessor_config.json").is_file():
        for name in ("preprocessor_config.json", "processor_config.json", "chat_template.json", "chat_template.jinja"):
            if Path(spec.files_from, name).is_file():
                shutil.copy(Path(spec.files_from, name), out / name)
        return "copied"
    mean_std = {"clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
                "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                "dinov2": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                "sam": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                "convnext": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
    size = int(spec.config.get("image_size", 224))
    if spec.processor == "qwen2_vl":
        image = transformers.Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 64)
        image.save_pretrained(out)
        (out / "processor_config.json").write_text(json.dumps({"processor_class": "Qwen2VLProcessor"}))
        (out / "chat_template.jinja").write_text(QWEN2_VL_TEMPLATE)
        return type(image).__name__
    mean, std = mean_std[spec.processor]
    square = {"height": size, "width": size}
    processors = {
        "clip": lambda: transformers.CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size=square,
                                                           image_mean=list(mean), image_std=list(std)),
        "siglip": lambda: transformers.SiglipImageProcessorPil(size=square, image_mean=list(mean),
                                                               image_std=list(std)),
        "dinov2": lambda: transformers.BitImageProcessorPil(size={"shortest_edge": 256}, crop_size=square,
                                                            image_mean=list(mean), image_std=list(std)),
        "sam": lambda: transformers.SamImageProcessorPil(size={"longest_edge": size}, pad_size=square,
                                                         image_mean=list(mean), image_std=list(std)),
        "convnext": lambda: transformers.ConvNextImageProcessorPil(size={"shortest_edge": size},
                                                                   image_mean=list(mean), image_std=list(std)),
    }
    built = processors[spec.processor]()
    built.save_pretrained(out)
    return type(built).__name__
