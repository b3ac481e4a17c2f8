"""Demo (not a test): the size ladder's contamination probes see a deliberate leak (issue 23).

One tiny random Qwen2-shaped LM (built here, offline) is trained twice from the same
initialisation, seed and batch order rule, with a plain PyTorch loop on CPU:

- CLEAN: on a train split of generated GSM8K-format word problems;
- CONTAMINATED: on the same train split plus the test split's questions *with their worked
  answers*, each repeated `--repeats` times, as a leaked benchmark would sit in a corpus.

Both are then scored on the test originals and on their perturbed twins
(`runtime.size_ladder.twins`: new input numbers, every annotated step recomputed): greedy
exact match, the drop original - twin with a paired standard error, Min-K% Prob (k = 0.2) of
each question text, the Min-K% gap original - twin, and the AUC of telling originals from
twins by Min-K% (`runtime.size_ladder.probes`).

Predicted direction, written before the first run: CONTAMINATED shows a larger EM drop and a
higher Min-K% AUC than CLEAN. CLEAN's drop is near 0 and its AUC near 0.5 (it has seen
neither the originals nor the twins, which read alike); CONTAMINATED's AUC is near 1 (it has
memorised the original questions' numbers) and its drop is large (it recites the original's
worked answer for a twin).

Choices, and why:
- The data are generated (three templates: add then multiply, subtract then add, divide then
  multiply), so the demo runs offline and the template's own formula re-checks every twin's
  recomputed gold answer; a twin whose gold disagrees is counted and left out of the scores.
  Train numbers span the range the twins are drawn from (half to double an original input),
  so a twin's numbers are no rarer to CLEAN than an original's.
- The tokenizer is the fixtures' byte-level BPE, but with every digit its own token (the
  fixtures' tokenizer merges " 48" or "13" into one token, so a number's tokens would depend
  on which merges the corpus happened to make, and arithmetic could not be learnt digit by
  digit).
- Training text is "Q: {question}\\nA: {worked answer #### N}" with the loss on every token: a
  leak in a pre-training corpus is plain text, question included, and Min-K% looks for
  memorised question text; the worked answer is GSM8K's own form, which the twins rewrite.

    .venv/bin/python demos/size_ladder_contamination.py [--out runs/demo-size-ladder-contamination]
        [--train 2000] [--test 128] [--repeats 8] [--epochs 6]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from common import REPO  # demos/common.py (scripts run with demos/ on sys.path)

NAMES = {"Sam": "He", "Mia": "She", "Ravi": "He", "Lena": "She", "Omar": "He", "Ada": "She", "Kofi": "He",
         "Yuki": "She", "Nina": "She", "Tom": "He", "Zara": "She", "Ivan": "He"}
THINGS = ["apples", "stamps", "marbles", "shells", "cards", "pencils", "cookies", "beads", "buttons", "stickers"]
LAST_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
K = 0.2  # Min-K% Prob's k, as in Shi et al.'s main results


@dataclass(frozen=True)
class Template:
    """A problem shape: its inputs' draw, its text, and its answer as a function of the
    question's numbers in reading order (which re-checks the twins' recomputed golds)."""

    name: str
    draw: Callable[[random.Random, bool], list[int]]  # wide: the train split's ranges
    write: Callable[[str, str, str, list[int]], tuple[str, str]]
    solve: Callable[[list[Fraction]], Fraction]


def _add_multiply(name: str, pron: str, things: str, n: list[int]) -> tuple[str, str]:
    a, b, c = n
    s = a + b
    return (f"{name} collects {a} {things} on Monday and {b} {things} on Tuesday. Each of the {things} is worth "
            f"{c} dollars. How many dollars are the {things} worth in all?",
            f"{name} collects {a}+{b} = <<{a}+{b}={s}>>{s} {things}.\n"
            f"They are worth {s}*{c} = <<{s}*{c}={s * c}>>{s * c} dollars.\n#### {s * c}")


def _subtract_add(name: str, pron: str, things: str, n: list[int]) -> tuple[str, str]:
    a, b, c = n
    d = a - b
    return (f"{name} has {a} {things}. {pron} gives {b} of them to a friend and then finds {c} more. How many "
            f"{things} does {name} have now?",
            f"After giving some away, {name} has {a}-{b} = <<{a}-{b}={d}>>{d} {things}.\n"
            f"After finding more, {pron.lower()} has {d}+{c} = <<{d}+{c}={d + c}>>{d + c} {things}.\n#### {d + c}")


def _divide_multiply(name: str, pron: str, things: str, n: list[int]) -> tuple[str, str]:
    total, size, price = n
    bags = total // size
    return (f"{name} has {total} {things} and puts them in bags of {size}. {pron} sells every bag for {price} "
            f"dollars. How many dollars does {name} make?",
            f"{name} fills {total}/{size} = <<{total}/{size}={bags}>>{bags} bags.\n"
            f"{pron} makes {bags}*{price} = <<{bags}*{price}={bags * price}>>{bags * price} dollars.\n"
            f"#### {bags * price}")


def _add(rng: random.Random, wide: bool) -> list[int]:
    if wide:
        return [rng.randint(1, 80), rng.randint(1, 80), rng.randint(1, 18)]
    return [rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)]


def _subtract(rng: random.Random, wide: bool) -> list[int]:
    a = rng.randint(5, 98) if wide else rng.randint(10, 49)
    return [a, rng.randint(1, a - 1) if wide else rng.randint(2, a - 2), rng.randint(1, 60) if wide else
            rng.randint(2, 30)]


def _divide(rng: random.Random, wide: bool) -> list[int]:
    if wide:
        size = rng.randint(1, 12)
        return [size * rng.randint(1, 96 // size), size, rng.randint(1, 18)]
    size = rng.randint(2, 6)
    return [size * rng.randint(2, 8), size, rng.randint(2, 9)]


# Test items draw narrow inputs; train items draw wide ones that cover what a twin can draw
# (runtime.size_ladder.twins: half to double each input), so twins are not out of range for CLEAN.
TEMPLATES = [
    Template("add-multiply", _add, _add_multiply, lambda n: (n[0] + n[1]) * n[2]),
    Template("subtract-add", _subtract, _subtract_add, lambda n: n[0] - n[1] + n[2]),
    Template("divide-multiply", _divide, _divide_multiply, lambda n: n[0] / n[1] * n[2]),
]


def problems(n: int, rng: random.Random, exclude: set[str], wide: bool) -> list[dict[str, Any]]:
    """`n` distinct GSM8K-format rows (question, answer) whose questions are not in `exclude`."""
    rows: list[dict[str, Any]] = []
    seen = set(exclude)
    while len(rows) < n:
        template = rng.choice(TEMPLATES)
        name = rng.choice(sorted(NAMES))
        question, answer = template.write(name, NAMES[name], rng.choice(THINGS), template.draw(rng, wide))
        if question not in seen:
            seen.add(question)
            rows.append({"question": question, "answer": answer, "template": template.name})
    return rows


def gold_checks(row: dict[str, Any]) -> bool:
    """Whether a row's `gold` is its template's answer on the numbers its question states."""
    template = next(t for t in TEMPLATES if t.name == row["template"])
    numbers = [Fraction(x) for x in re.findall(r"\d+", row["question"])]
    return len(numbers) == 3 and template.solve(numbers) == Fraction(row["gold"])


def digit_tokenizer(out: Path, texts: list[str], vocab_size: int) -> Any:
    """The fixtures' byte-level BPE with one token per digit, for a plain-text LM (end of text
    is the eos)."""
    from runtime.fixtures.tiny import build_tokenizer

    return build_tokenizer(out, texts, vocab_size, individual_digits=True, eos_token="<|endoftext|>")


def text(row: dict[str, Any]) -> str:
    return f"Q: {row['question']}\nA: {row['answer']}"


def prompt(row: dict[str, Any]) -> str:
    return f"Q: {row['question']}\nA:"


def train(model: Any, tokenizer: Any, rows: list[dict[str, Any]], epochs: int, lr: float, batch: int,
          seed: int) -> float:
    """Plain causal-LM training (AdamW, warm-up then linear decay, loss on every token);
    returns the last epoch's mean loss. The batch order comes from `seed` alone, so the two
    models differ only in the rows they are given."""
    import torch

    encoded = [tokenizer(text(r)).input_ids + [tokenizer.eos_token_id] for r in rows]
    steps = epochs * math.ceil(len(encoded) / batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    rng = random.Random(seed)
    model.train()
    last = math.nan
    for _ in range(epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        losses = []
        for start in range(0, len(order), batch):
            chunk = [encoded[i] for i in order[start:start + batch]]
            width = max(len(c) for c in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
            labels = torch.full((len(chunk), width), -100)
            for j, c in enumerate(chunk):
                ids[j, :len(c)] = torch.tensor(c)
                labels[j, :len(c)] = torch.tensor(c)
            loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        last = sum(losses) / len(losses)
    model.eval()
    return last


def question_logprobs(model: Any, tokenizer: Any, questions: Sequence[str], batch: int = 64) -> list[list[float]]:
    """Per question, the log-probability of each of its tokens given the ones before it, after
    the prefix "Q:" (the context the model was trained with)."""
    import torch

    prefix = tokenizer("Q:").input_ids
    out: list[list[float]] = []
    with torch.no_grad():
        for start in range(0, len(questions), batch):
            seqs = [prefix + tokenizer(" " + q).input_ids for q in questions[start:start + batch]]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), tokenizer.pad_token_id)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for j, s in enumerate(seqs):
                ids[j, :len(s)] = torch.tensor(s)
                mask[j, :len(s)] = 1
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for j, s in enumerate(seqs):
                positions = range(len(prefix), len(s))  # token t is predicted at t - 1
                out.append([logp[j, t - 1, s[t]].item() for t in positions])
    return out


def greedy_answers(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], max_new_tokens: int,
                   batch: int = 64) -> list[str]:
    import torch

    out: list[str] = []
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            enc = tokenizer([prompt(r) for r in rows[start:start + batch]], return_tensors="pt", padding=True)
            generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
            out += tokenizer.batch_decode(generated[:, enc.input_ids.shape[1]:], skip_special_tokens=True)
    return out


def last_number(answer: str) -> Fraction | None:
    found = LAST_NUMBER.findall(answer)
    return Fraction(found[-1]) if found else None


@dataclass(frozen=True)
class Scores:
    em_original: float
    em_twin: float
    drop: tuple[float, float]
    min_k_original: float
    min_k_twin: float
    gap: tuple[float, float]
    auc: float
    recites_original: int  # twins answered with their original's gold: a memorisation tell
    last_loss: float
    train_seconds: float


def score(model: Any, tokenizer: Any, originals: list[dict[str, Any]], twins: list[dict[str, Any]],
          max_new_tokens: int, last_loss: float, train_seconds: float) -> Scores:
    from runtime.size_ladder.probes import auc, mean_and_stderr, min_k_prob

    answers_o = greedy_answers(model, tokenizer, originals, max_new_tokens)
    answers_t = greedy_answers(model, tokenizer, twins, max_new_tokens)
    hit_o = [float(last_number(a) == Fraction(r["gold"])) for a, r in zip(answers_o, originals, strict=True)]
    hit_t = [float(last_number(a) == Fraction(r["gold"])) for a, r in zip(answers_t, twins, strict=True)]
    recites = sum(last_number(a) == Fraction(o["gold"]) for a, o in zip(answers_t, originals, strict=True))
    mk_o = [min_k_prob(lp, K) for lp in question_logprobs(model, tokenizer, [r["question"] for r in originals])]
    mk_t = [min_k_prob(lp, K) for lp in question_logprobs(model, tokenizer, [r["question"] for r in twins])]
    return Scores(
        em_original=sum(hit_o) / len(hit_o), em_twin=sum(hit_t) / len(hit_t),
        drop=mean_and_stderr([o - t for o, t in zip(hit_o, hit_t, strict=True)]),
        min_k_original=sum(mk_o) / len(mk_o), min_k_twin=sum(mk_t) / len(mk_t),
        gap=mean_and_stderr([o - t for o, t in zip(mk_o, mk_t, strict=True)]),
        auc=auc(mk_o, mk_t), recites_original=recites, last_loss=last_loss, train_seconds=train_seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-size-ladder-contamination")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=8, help="copies of each leaked test item in CONTAMINATED's data")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    import torch
    from transformers import Qwen2ForCausalLM
    from transformers.utils import logging as hf_logging

    from runtime.fixtures.tiny import build_lm
    from runtime.size_ladder.twins import twins

    started = time.time()
    hf_logging.disable_progress_bar()  # the two loads' and the save's bars would split the printed figures
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    test_rows = problems(args.test, rng, set(), wide=False)
    train_rows = problems(args.train, rng, {r["question"] for r in test_rows}, wide=True)
    originals, twin_rows, left_out = twins(test_rows, "question", "answer", seed=args.seed)
    wrong = [i for i, t in enumerate(twin_rows) if not gold_checks(t)]  # a twin whose recomputed gold is not right
    keep = [i for i in range(len(twin_rows)) if i not in set(wrong)]
    seen = sum(twin_rows[i]["question"] in {r["question"] for r in train_rows} for i in keep)
    originals, twin_rows = [originals[i] for i in keep], [twin_rows[i] for i in keep]
    print(f"data: {len(train_rows)} train items, {len(test_rows)} test items; twins made "
          f"{len(keep) + len(wrong)}, left out {sum(left_out.values())} {dict(left_out)}; twins whose recomputed "
          f"gold disagrees with the template (dropped): {len(wrong)}; twin questions also in train: {seen}",
          flush=True)
    if not originals:
        print("no twins to score")
        return 1

    assets = args.out / "init"
    tokenizer = digit_tokenizer(assets, [text(r) for r in train_rows], vocab_size=512)
    params = build_lm(assets, tokenizer, seed=args.seed, hidden=args.hidden, layers=args.layers)
    longest = max(len(tokenizer(" " + r["answer"]).input_ids) for r in test_rows + twin_rows)
    print(f"model: Qwen2-shaped, {args.layers} layers, width {args.hidden}, {params / 1e6:.2f}M parameters, "
          f"vocab {len(tokenizer)} (one token per digit); {args.epochs} epochs, AdamW lr {args.lr}, batch "
          f"{args.batch}; the leak: {len(test_rows)} test items x {args.repeats}", flush=True)

    results: dict[str, Scores] = {}
    leak = [r for r in test_rows for _ in range(args.repeats)]
    for label, rows in (("CLEAN", train_rows), ("CONTAMINATED", train_rows + leak)):
        torch.manual_seed(args.seed)
        model = Qwen2ForCausalLM.from_pretrained(assets)  # the same initialisation for both
        t0 = time.time()
        loss = train(model, tokenizer, rows, args.epochs, args.lr, args.batch, args.seed)
        seconds = time.time() - t0
        results[label] = score(model, tokenizer, originals, twin_rows, longest + 8, loss, seconds)
        print(f"{label}: trained on {len(rows)} rows in {seconds:.0f} s, last-epoch loss {loss:.3f}; scored in "
              f"{time.time() - t0 - seconds:.0f} s", flush=True)

    header = (f"{'model':<13} | {'EM original':>11} | {'EM twin':>7} | {'drop ± se':>15} | {'Min-K% original':>15} | "
              f"{'Min-K% twin':>11} | {'gap ± se':>15} | {'AUC':>5}")
    print()
    print(f"{len(originals)} test items with a twin (of {len(test_rows)}); Min-K% Prob with k = {K}, "
          f"originals as positives for the AUC")
    print(header)
    print("-" * len(header))
    for label, s in results.items():
        print(f"{label:<13} | {s.em_original:>11.3f} | {s.em_twin:>7.3f} | "
              f"{s.drop[0]:>+7.3f} ± {s.drop[1]:.3f} | {s.min_k_original:>15.3f} | {s.min_k_twin:>11.3f} | "
              f"{s.gap[0]:>+7.3f} ± {s.gap[1]:.3f} | {s.auc:>5.3f}")
    print()
    for label, s in results.items():
        print(f"{label}: twins answered with their original's gold: {s.recites_original}/{len(twin_rows)}")
    clean, dirty = results["CLEAN"], results["CONTAMINATED"]
    holds = dirty.drop[0] > clean.drop[0] and dirty.auc > clean.auc
    print(f"prediction (CONTAMINATED: larger drop and higher AUC than CLEAN): {'holds' if holds else 'FAILS'}")
    print(f"wall time {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
