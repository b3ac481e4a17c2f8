"""Tiny offline fixtures that tests, the quickstart and the route issues share.

No hub: a byte-level BPE tokenizer is trained here with `tokenizers` (with a chat
template whose assistant turns carry `{% generation %}` markers, for assistant-only
loss), a Qwen2-shaped causal LM of about a million parameters is initialised at random,
and a synthetic arithmetic task is written as JSONL; a LLaVA-style VLM (tiny CLIP tower,
projector, tiny LM) with noisy colour images for image -> text tasks. Small enough to
train on 2 CPU cores in minutes, structured enough that metrics move.

    python -m runtime.tiny DIR      # DIR/tiny-lm, DIR/tiny-chat/{train,test}.jsonl, DIR/tiny-vlm, ...
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def arithmetic(n: int, seed: int, max_operand: int = 20) -> list[dict[str, str]]:
    """Questions like 'What is 12 + 7?' with the answer as completion."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
        op = rng.choice("+-")
        answer = a + b if op == "+" else a - b
        rows.append({"prompt": f"What is {a} {op} {b}?", "completion": str(answer)})
    return rows


def corpus(rows: list[dict[str, str]]) -> list[str]:
    text = [f"<|im_start|>user\n{r['prompt']}<|im_end|>\n<|im_start|>assistant\n{r['completion']}<|im_end|>"
            for r in rows]
    return text + [" ".join(str(i) for i in range(-40, 100)), "What is the answer? It is"]


def build_tokenizer(out: Path, texts: list[str], vocab_size: int = 384) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|pad|>",
                                   bos_token=None, unk_token=None, padding_side="left")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_lm(out: Path, tokenizer: Any, seed: int = 0, hidden: int = 64, layers: int = 2) -> int:
    """A random Qwen2-shaped causal LM saved with its tokenizer; returns its parameter count."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


VLM_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{% else %}"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{{ '<|im_end|>' }}{% endgeneration %}"
    "{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}{{ '<image>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{{ '<|im_end|>' }}"
    "{% endif %}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# bump when build_all makes something new: asset folders of an older version are rebuilt
FIXTURES_VERSION = "6: reasoning data\n"
COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}


def build_vlm(out: Path, texts: list[str], seed: int = 0, image_size: int = 32, vision_hidden: int = 32,
              text_hidden: int = 64, vocab_size: int = 384) -> int:
    """A LLaVA-style VLM: a tiny CLIP vision tower, a projector and a tiny Qwen2 LM, with a
    processor whose image processor is PIL-based (no torchvision needed). Images are
    resized to `image_size` squared (no crop, so a wide formula is squeezed, not cut)."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        Qwen2Config,
    )

    tok = build_tokenizer(out, texts, vocab_size)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = VLM_TEMPLATE
    vision = CLIPVisionConfig(hidden_size=vision_hidden, intermediate_size=vision_hidden * 2, num_hidden_layers=2,
                              num_attention_heads=2, image_size=image_size, patch_size=8, projection_dim=vision_hidden)
    text = Qwen2Config(vocab_size=len(tok), hidden_size=text_hidden, intermediate_size=text_hidden * 2,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                       tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    square = {"height": image_size, "width": image_size}
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size=square, crop_size=square, do_center_crop=False),
                               tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                               chat_template=VLM_TEMPLATE, num_additional_image_tokens=1)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def formula_corpus(n: int, seed: int) -> list[str]:
    """Text to train the formula VLM's tokenizer on: random formulas of the synthetic
    grammar (so LaTeX commands become single tokens) and the route's prompt."""
    from runtime.formulas.synthetic import random_formula

    rng = random.Random(seed)
    return [f"<|im_start|>user\nWrite the LaTeX for this formula.<|im_end|>\n<|im_start|>assistant\n"
            f"{random_formula(rng, 1 + i % 3)}<|im_end|>" for i in range(n)]


def colour_images(out: Path, n: int, seed: int) -> list[dict[str, str]]:
    """Noisy solid-colour images and the question 'What color is this?'."""
    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        name = rng.choice(list(COLORS))
        noise = np.random.RandomState(seed * 100_000 + i).randint(-25, 25, (40, 40, 3))
        Image.fromarray(np.clip(np.array(COLORS[name]) + noise, 0, 255).astype("uint8")).save(
            out / "images" / f"{seed}-{i}.png")
        rows.append({"image": f"images/{seed}-{i}.png", "prompt": "What color is this?", "completion": name})
    return rows


def ladder_tasks(out: Path, seed: int, n: int = 48) -> None:
    """Two local tasks of different abilities for the size ladder: arithmetic questions
    (math, generated answers) and number comparisons (logic, a yes/no choice)."""
    rng = random.Random(seed + 7)
    write_jsonl(out / "arith.jsonl", [{"question": r["prompt"], "answer": r["completion"]}
                                      for r in arithmetic(n, seed + 3)])
    rows = []
    for _ in range(n):
        a, b = rng.randint(0, 50), rng.randint(0, 50)
        rows.append({"question": f"Is {a} greater than {b}?", "choices": ["yes", "no"], "answer": 0 if a > b else 1})
    write_jsonl(out / "compare.jsonl", rows)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def build_all(root: Path, seed: int = 0) -> dict[str, Path]:
    """Everything the -tiny examples and the tests name, under `root` (idempotent)."""
    lm = root / "tiny-lm"
    chat = root / "tiny-chat"
    done = root / ".tiny-complete"
    if done.exists() and done.read_text() == FIXTURES_VERSION:
        return {"lm": lm, "chat": chat}
    train, test = arithmetic(512, seed), arithmetic(64, seed + 1)
    write_jsonl(chat / "train.jsonl", train)
    write_jsonl(chat / "test.jsonl", test)
    write_jsonl(chat / "prompts.jsonl", [{"prompt": r["prompt"]} for r in test])
    tokenizer = build_tokenizer(lm, corpus(train))
    build_lm(lm, tokenizer, seed)
    build_lm(root / "tiny-lm-wide", tokenizer, seed + 1, hidden=96)
    build_lm(root / "tiny-lm-wider", tokenizer, seed + 2, hidden=128, layers=3)
    ladder_tasks(root / "tiny-ladder", seed)
    for split, n, offset in (("train", 96, 11), ("test", 32, 12)):  # GSM8K's format: rationale #### answer
        write_jsonl(root / "tiny-arith" / f"{split}.jsonl", [
            {"question": r["prompt"], "answer": f"{r['prompt'][8:-1]} = {r['completion']} #### {r['completion']}"}
            for r in arithmetic(n, seed + offset)])
    colours = root / "tiny-colours"
    write_jsonl(colours / "train.jsonl", colour_images(colours, 128, seed))
    write_jsonl(colours / "test.jsonl", colour_images(colours, 32, seed + 1))
    build_vlm(root / "tiny-vlm", corpus(train) + [f"What color is this? {c}" for c in COLORS] * 20, seed)
    build_vlm(root / "tiny-formula-vlm", formula_corpus(3000, seed), seed, image_size=64, vision_hidden=64,
              text_hidden=96, vocab_size=512)
    from runtime.radio.shapes import write_sets
    from runtime.radio.teachers import build_tiny_teachers

    build_tiny_teachers(root, seed)  # tiny-clip, tiny-dinov2, tiny-siglip, tiny-sam
    write_sets(root / "tiny-shapes", seed)
    done.write_text(FIXTURES_VERSION)
    return {"lm": lm, "chat": chat, "vlm": root / "tiny-vlm", "colours": colours,
            "formula-vlm": root / "tiny-formula-vlm"}


if __name__ == "__main__":
    paths = build_all(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/assets"))
    print("\n".join(f"{k}: {v}" for k, v in paths.items()))
