"""Tiny offline fixtures that tests, the quickstart and the route issues share.

No hub: a byte-level BPE tokenizer is trained here with `tokenizers` (with a chat
template whose assistant turns carry `{% generation %}` markers, for assistant-only
loss), a Qwen2-shaped causal LM of about a million parameters is initialised at random,
and a synthetic arithmetic task is written as JSONL: small enough to train on 2 CPU
cores in minutes, structured enough that metrics move.

    python -m runtime.tiny DIR      # DIR/tiny-lm, DIR/tiny-chat/{train,test}.jsonl, ...
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
    if done.exists():
        return {"lm": lm, "chat": chat}
    train, test = arithmetic(512, seed), arithmetic(64, seed + 1)
    write_jsonl(chat / "train.jsonl", train)
    write_jsonl(chat / "test.jsonl", test)
    write_jsonl(chat / "prompts.jsonl", [{"prompt": r["prompt"]} for r in test])
    tokenizer = build_tokenizer(lm, corpus(train))
    build_lm(lm, tokenizer, seed)
    build_lm(root / "tiny-lm-wide", tokenizer, seed + 1, hidden=96)
    done.write_text("ok\n")
    return {"lm": lm, "chat": chat}


if __name__ == "__main__":
    paths = build_all(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/assets"))
    print("\n".join(f"{k}: {v}" for k, v in paths.items()))
