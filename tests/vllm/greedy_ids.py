"""Run in the vLLM environment: greedy token ids of transformers' generate and of labspec's
vLLM engine for the same rendered prompts, as JSON on stdout.

usage: python tests/vllm/greedy_ids.py MODEL_DIR PROMPTS_JSONL N NEW_TOKENS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    model_dir, prompts_file, n, new_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import SamplingParams

    from runtime.core.models import render_prompt
    from runtime.core.vllm_engine import open_engine
    from specs.sections import GenerationSettings
    from specs.tasks import ModelRef

    lines = Path(prompts_file).read_text(encoding="utf-8").splitlines()[:n]
    prompts = [json.loads(line)["prompt"] for line in lines]
    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = [tok(render_prompt(tok, p), add_special_tokens=False)["input_ids"] for p in prompts]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    hf = []
    for prompt_ids in ids:  # one at a time: no padding in the way of an exact comparison
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id or tok.eos_token_id)
        hf.append(out[0, len(prompt_ids):].tolist())
    engine = open_engine(ModelRef(name_or_path=model_dir, dtype="fp32"), "/",
                         GenerationSettings(backend="vllm", max_new_tokens=new_tokens))
    try:
        results = engine.llm.generate([{"prompt_token_ids": i} for i in ids],
                                      SamplingParams(max_tokens=new_tokens, temperature=0.0), use_tqdm=False)
        vllm = [list(r.outputs[0].token_ids) for r in results]
    finally:
        engine.close()
    eos = tok.eos_token_id
    # HF pads a finished sequence with pad tokens after EOS; vLLM stops at EOS: compare up to EOS
    print(json.dumps({"hf": [h[:h.index(eos) + 1] if eos in h else h for h in hf], "vllm": vllm}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
