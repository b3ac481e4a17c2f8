"""Demo (not a test): the size ladder with real differences between its sizes (issue 20).

Three random Qwen2-shaped models of growing width and depth (built here, offline) are each
fine-tuned with the `sft` kind on the same worked solutions of synthetic sums and
differences, for the same steps, batch order and learning rate; a `size_ladder` spec then
evaluates the three checkpoints on the task's questions under plain greedy decoding,
self-consistency (majority vote over n samples) and best-of-n (the rule verifier, which
recomputes the "a op b = c" a sample states and checks its operands and stated answer). Per
size the demo prints, with standard errors from the per-question outcomes in each cell's
samples.jsonl (paired: every cell answers the same questions):

- base: plain greedy exact match;
- retention: base / the largest model's base (a ratio estimator's delta-method s.e.);
- self-consistency gain: majority-vote exact match - plain greedy exact match;
- best-of-n oracle gap: pass@n (any of the n samples right) - the verifier's pick's exact match;
  beside it sound pass@n: a right answer stated by a sound chain (the verifier's top score).

Beside them: greedy on the instructed prompt (cot), the vote's and the verifier's exact match,
pass@n, and the share of single samples that are right (sample acc).

Setting: the models are trained as chat models (the tokenizer has a chat template, so the
ladder applies it) on prompts with and without the ladder's step-by-step instruction (which
the sampled interventions append), so that the vote and the verifier, not a prompt the model
never saw, make the difference to plain decoding; a `cot` cell (greedy on the instructed
prompt) shows how much of the self-consistency gain is the prompt's. One token per digit;
answers read "a + b = c. The answer is c.". The task is a fixed table: every sum and
difference of two one-digit numbers (200 questions), all of them in the training rows, and the
test set is that table. So the ladder measures how much of the same table each size learns in
the same steps, not generalisation to unseen questions: in a pilot (a plain PyTorch loop) with
held-out two-digit questions no size got above 12% in the steps that fit in the time limit,
and the largest model was not the best. The widths and depths were chosen in that pilot on
plain greedy accuracy alone (so that the three differ), not on the interventions' figures.

Predicted direction, written before the first run:
- base accuracy grows with size, so retention is below 1 for the two smaller models, lowest
  for the smallest (each more than 2 s.e. below 1);
- self-consistency gain is >= 0 for every size and largest for a model whose greedy accuracy
  is intermediate (its right answer is the plurality of its samples but greedy decoding misses
  it now and then); for a model near the ceiling it is about 0;
- the best-of-n oracle gap is > 0 for the smaller models and shrinks with size (their n samples
  often hold a right answer that the rule verifier cannot single out, e.g. a sample that copies
  an operand wrongly but adds correctly); for a model near the ceiling it is about 0.

Measured (defaults, seed 0, 200 questions, s.e. paired per question; 282-341 s on 2 shared cores),
with the rule verifier that also checks the operands and the stated answer:

    model   params  base           retention      SC@8 gain       pass@8  BoN@8  oracle gap      sound pass@8
    tiny-s  20k     0.110 ± 0.022  0.118 ± 0.024  -0.030 ± 0.026  0.395   0.065  +0.330 ± 0.033  0.000
    tiny-m  57k     0.760 ± 0.030  0.813 ± 0.035  -0.200 ± 0.039  0.950   0.530  +0.420 ± 0.035  0.525
    tiny-l  633k    0.935 ± 0.017  1.000          +0.010 ± 0.017  0.995   0.995  +0.000 ± 0.000  0.995

- retention: as predicted (both smaller models far more than 2 s.e. below 1, the smallest lowest);
- self-consistency: the prediction fails. The vote hurts the intermediate model (-0.20): at
  temperature 0.8 its single samples are right 39% of the time against 76% for greedy, so the
  vote broke 54 questions greedy had right and fixed 14. About 0 for the other two, as for the
  largest predicted. The cot prompt alone changes greedy by at most 0.02 (0.74 vs 0.76);
- best-of-n: the gap is > 0 for the smaller models and 0 at the ceiling, but it does not shrink
  from the smallest to the middle model (0.33 -> 0.42). Sound pass@8 (a right answer stated by a
  chain whose equation holds, uses the question's numbers and gives the stated answer) says why:
  the smaller models' right samples are almost all lucky (tiny-m: "0 + 2 = 0. The answer is 2."),
  and the verifier picks nearly every sound one (BoN@8 >= sound pass@8 for all three; tiny-m
  has 3 questions where a sound right chain lost to a tie with a sound-looking wrong one,
  "0 + 0 = 0" for "What is 0 + 2?": operands are checked as a set). The first run's
  verifier only recomputed "a op b = c"; it picked chains that answered another sum or stated
  another number (tiny-m BoN@8 0.400, gap +0.550), which is why it now checks both.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import REPO, launch, mean_se, report  # demos/common.py (scripts run with demos/ on sys.path)

SIZES = {"tiny-s": (32, 1), "tiny-m": (48, 2), "tiny-l": (128, 4)}  # name: (width, layers)
EXPERIMENT = "size-ladder-demo"


def assets(out: Path, train: int, max_operand: int, seed: int) -> dict[str, Any]:
    """The data (`train` prompt/completion rows drawn from every sum and difference of two
    operands up to `max_operand`, half of them with the ladder's step-by-step instruction;
    the test set: every such question once), a digit-level tokenizer, and the three random
    models."""
    sys.path.insert(0, str(REPO))
    from runtime.fixtures.tiny import arithmetic, build_lm, build_tokenizer, write_jsonl
    from runtime.size_ladder.harness import COT

    def worked(row: dict[str, str]) -> str:
        return f"{row['prompt'][8:-1]} = {row['completion']}. The answer is {row['completion']}."

    rng = random.Random(seed)
    sft_rows = [{"prompt": r["prompt"] + (f"\n{COT}" if rng.random() < 0.5 else ""), "completion": worked(r)}
                for r in arithmetic(train, seed, max_operand)]
    test_rows = [{"question": f"What is {a} {op} {b}?", "answer": str(a + b if op == "+" else a - b)}
                 for a in range(max_operand + 1) for b in range(max_operand + 1) for op in "+-"]
    write_jsonl(out / "train.jsonl", sft_rows)
    write_jsonl(out / "test.jsonl", test_rows)
    texts = [f"<|im_start|>user\n{r['prompt']}<|im_end|>\n<|im_start|>assistant\n{r['completion']}<|im_end|>"
             for r in sft_rows]
    tokenizer = build_tokenizer(out / "tokenizer", texts, vocab_size=384, individual_digits=True)
    params = {name: build_lm(out / name, tokenizer, seed=seed + i, hidden=width, layers=layers)
              for i, (name, (width, layers)) in enumerate(SIZES.items())}
    seen = {r["prompt"].split("\n")[0] for r in sft_rows}
    return {"params": params, "train": len(sft_rows), "test": len(test_rows),
            "test_seen": sum(r["question"] in seen for r in test_rows)}


def fine_tune(out: Path, data: Path, name: str, steps: int, lr: float, seed: int) -> Path:
    """One `sft` launch: the random model `name` trained on `data`; its final checkpoint."""
    experiment = f"{EXPERIMENT}-sft-{name}"
    spec = out / f"{experiment}.yaml"
    spec.write_text(json.dumps({
        "name": experiment, "kind": "sft", "output_root": str(out), "seed": seed,
        "model": {"name_or_path": str(out / "assets" / name), "dtype": "fp32"},
        "data": {"train": str(data)},
        "training": {"lr": lr, "max_steps": steps, "global_batch_size": 32, "micro_batch_size": 16,
                     "precision": "fp32", "max_length": 128, "logging_steps": 25, "save_steps": steps,
                     "warmup_steps": steps // 20, "weight_decay": 0.01},
        "deepspeed": {"zero_stage": 2},
        "resources": {"gpus_per_node": 0, "procs_per_node": 2, "cpus_per_task": 2, "time": 60}}))
    launch(spec, {})
    return next((out / experiment).glob("sft-*")) / "checkpoints" / "final"


def ladder_spec(out: Path, checkpoints: dict[str, Path], params: dict[str, int], test: Path, n: int,
                temperature: float, seed: int) -> Path:
    spec = out / f"{EXPERIMENT}.yaml"
    spec.write_text(json.dumps({
        "name": EXPERIMENT, "kind": "size_ladder", "output_root": str(out), "seed": seed,
        "resources": {"gpus_per_node": 0, "cpus_per_task": 1, "mem": "4G", "time": "00:15:00"},
        "ladder": {
            "models": [{"name": name, "name_or_path": str(path), "size": params[name], "dtype": "fp32",
                        "family": "tiny-qwen2"} for name, path in checkpoints.items()],
            "suites": [{"name": "arithmetic", "ability": "math", "tasks": [
                {"name": "sums", "path": str(test), "prompt_template": "{{question}}",
                 "answer_extractor": "last_number"}]}],
            "interventions": [
                {"name": "greedy", "type": "none", "max_new_tokens": 32},
                {"name": "cot", "type": "cot", "max_new_tokens": 32},
                {"name": f"sc{n}", "type": "self_consistency", "n": n, "temperature": temperature,
                 "max_new_tokens": 32},
                {"name": f"bo{n}", "type": "best_of_n", "n": n, "temperature": temperature, "verifier": "rule",
                 "max_new_tokens": 32}],
            "batch_size": 64},
        "stages": {"aggregate": {"resources": {"gpus_per_node": 0, "cpus_per_task": 1, "mem": "1G",
                                               "time": "00:05:00"}}}}))
    return spec


def cell_samples(out: Path, model: str, intervention: str) -> list[dict[str, Any]]:
    """A cell's per-question log (runtime.size_ladder.benchmark), in question order."""
    run_dir = next((out / EXPERIMENT).glob(f"eval_{model}_{intervention}-*"))
    rows = [json.loads(line) for line in (run_dir / "outputs" / "samples.jsonl").read_text().splitlines()]
    return sorted(rows, key=lambda r: r["doc_id"])


def normalise(text: str) -> str:
    sys.path.insert(0, str(REPO))
    from runtime.size_ladder.benchmark import normalise as ladder_normalise

    return ladder_normalise(text)


def majority(answers: list[str]) -> str:
    """The harness's majority_vote: the most common answer, the first seen among ties."""
    return Counter(answers).most_common(1)[0][0]


def ratio_se(x: list[float], y: list[float]) -> tuple[float, float]:
    """mean(x) / mean(y) over paired questions, and its delta-method standard error."""
    mx, my = statistics.fmean(x), statistics.fmean(y)
    if my == 0:
        return math.nan, math.nan
    r = mx / my
    return r, statistics.stdev([a - r * b for a, b in zip(x, y, strict=True)]) / math.sqrt(len(x)) / my


def measure(out: Path, n: int) -> dict[str, dict[str, Any]]:
    """Per model, from the cells' per-question logs: plain hits, vote hits, pass@n, the verifier's hits."""
    found: dict[str, dict[str, Any]] = {}
    for name in SIZES:
        plain = cell_samples(out, name, "greedy")
        cot = cell_samples(out, name, "cot")
        sc = cell_samples(out, name, f"sc{n}")
        bo = cell_samples(out, name, f"bo{n}")
        assert [r["doc_id"] for r in plain] == [r["doc_id"] for r in cot] == [r["doc_id"] for r in sc] == \
            [r["doc_id"] for r in bo]
        hit = [float(normalise(r["answers"][0]) == normalise(r["target"])) for r in plain]
        hit_cot = [float(normalise(r["answers"][0]) == normalise(r["target"])) for r in cot]
        vote = [float(normalise(majority(r["answers"])) == normalise(r["target"])) for r in sc]
        oracle = [float(any(normalise(a) == normalise(r["target"]) for a in r["answers"])) for r in bo]
        sound = [float(any(normalise(a) == normalise(r["target"]) and sound_chain(s, r["prompt"] or "")
                           for a, s in zip(r["answers"], r["responses"], strict=True))) for r in bo]
        chosen = [float(normalise(r["answers"][r["chosen"]]) == normalise(r["target"])) for r in bo]
        misses = Counter(miss_kind(r) for r, o, c in zip(bo, oracle, chosen, strict=True) if o and not c)
        found[name] = {"plain": hit, "cot": hit_cot, "vote": vote, "oracle": oracle, "sound": sound, "chosen": chosen,
                       "sample_acc": statistics.fmean(normalise(a) == normalise(r["target"])
                                                      for r in sc for a in r["answers"]),
                       "vote_fixes": sum(v > p for v, p in zip(vote, hit, strict=True)),
                       "vote_breaks": sum(v < p for v, p in zip(vote, hit, strict=True)),
                       "misses": misses}
    return found


def sound_chain(response: str, prompt: str) -> bool:
    """Every equation holds, its operands are the question's (or earlier results) and the
    stated answer is its result: the rule verifier's top score."""
    sys.path.insert(0, str(REPO))
    from runtime.size_ladder.verifiers import question_of, rule_score

    return rule_score(response, question_of(prompt)) >= 3.0


def miss_kind(row: dict[str, Any]) -> str:
    """Why the verifier's pick is wrong although a right sample was there: its equation's
    operands are not the question's, or they are and the sum is wrong, or the equation holds
    but the stated answer is another number, or it states no equation."""
    sys.path.insert(0, str(REPO))
    from runtime.size_ladder.verifiers import EQUATION

    asked = re.search(r"What is (\d+) ([-+]) (\d+)\?", row["prompt"] or "")
    found = EQUATION.search(row["responses"][row["chosen"]])
    if asked is None or found is None:
        return "no equation"
    a, op, b, c = found.groups()
    if (a, op, b) != asked.groups():
        return "operands not the question's"
    if float(c) != (float(a) + float(b) if op == "+" else float(a) - float(b)):
        return "wrong result"
    return "stated answer is not the equation's"


def ladder_scores(out: Path) -> dict[tuple[str, str], float]:
    """The aggregate stage's scores per (model, intervention), to check the demo's own against."""
    run_dir = next((out / EXPERIMENT).glob("aggregate-*"))
    rows = json.loads((run_dir / "outputs" / "ladder.json").read_text())["rows"]
    return {(r["model"], r["intervention"]): r["score"] for r in rows}


def table(found: dict[str, dict[str, Any]], params: dict[str, int], n: int) -> tuple[str, dict[str, Any]]:
    largest = list(SIZES)[-1]
    stats: dict[str, Any] = {}
    lines = [f"| model | params | base ± s.e. | retention ± s.e. | cot greedy | SC@{n} | SC@{n} gain ± s.e. | "
             f"BoN@{n} | pass@{n} | oracle gap ± s.e. | sound pass@{n} | sample acc |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, f in found.items():
        base = mean_se(f["plain"])
        retention = ratio_se(f["plain"], found[largest]["plain"]) if name != largest else (1.0, 0.0)
        gain = mean_se([v - p for v, p in zip(f["vote"], f["plain"], strict=True)])
        gap = mean_se([o - c for o, c in zip(f["oracle"], f["chosen"], strict=True)])
        bon, oracle = statistics.fmean(f["chosen"]), statistics.fmean(f["oracle"])
        stats[name] = {"base": base, "retention": retention, "gain": gain, "gap": gap, "bon": bon, "oracle": oracle,
                       "cot": statistics.fmean(f["cot"]), "vote": statistics.fmean(f["vote"]),
                       "sample_acc": f["sample_acc"], "sound": statistics.fmean(f["sound"])}
        lines.append(f"| {name} | {params[name] / 1e3:.0f}k | {base[0]:.3f} ± {base[1]:.3f} | "
                     f"{retention[0]:.3f} ± {retention[1]:.3f} | {stats[name]['cot']:.3f} | "
                     f"{stats[name]['vote']:.3f} | "
                     f"{gain[0]:+.3f} ± {gain[1]:.3f} | {bon:.3f} | {oracle:.3f} | {gap[0]:+.3f} ± {gap[1]:.3f} | "
                     f"{stats[name]['sound']:.3f} | {f['sample_acc']:.3f} |")
    return "\n".join(lines), stats


def plot(stats: dict[str, Any], params: dict[str, int], n: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [params[m] for m in stats]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    ax = axes[0]
    ax.errorbar(sizes, [s["base"][0] for s in stats.values()], yerr=[s["base"][1] for s in stats.values()],
                marker="o", capsize=3, label="greedy")
    ax.plot(sizes, [s["cot"] for s in stats.values()], marker="o", linestyle=":", label="greedy, cot prompt")
    ax.plot(sizes, [s["vote"] for s in stats.values()], marker="s", label=f"self-consistency@{n}")
    ax.plot(sizes, [s["bon"] for s in stats.values()], marker="^", label=f"best-of-{n} (rule verifier)")
    ax.plot(sizes, [s["oracle"] for s in stats.values()], marker="v", linestyle="--", label=f"pass@{n}")
    ax.plot(sizes, [s["sound"] for s in stats.values()], marker="v", linestyle=":", label=f"pass@{n}, sound chains")
    ax.set(xscale="log", xlabel="parameters", ylabel="exact match", title="Score", ylim=(0, 1.02))
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.errorbar(sizes, [s["retention"][0] for s in stats.values()], yerr=[s["retention"][1] for s in stats.values()],
                marker="o", capsize=3)
    ax.axhline(1, color="grey", linewidth=0.8)
    ax.set(xscale="log", xlabel="parameters", ylabel="base / largest's base", title="Retention (greedy)")
    ax = axes[2]
    ax.errorbar(sizes, [s["gain"][0] for s in stats.values()], yerr=[s["gain"][1] for s in stats.values()],
                marker="s", capsize=3, label=f"SC@{n} gain over greedy")
    ax.errorbar(sizes, [s["gap"][0] for s in stats.values()], yerr=[s["gap"][1] for s in stats.values()],
                marker="^", capsize=3, label=f"BoN@{n} oracle gap (pass@{n} - BoN)")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(xscale="log", xlabel="parameters", title="Interventions (± s.e., paired per question)")
    ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xticks(sizes, [f"{s / 1e3:.0f}k" for s in sizes])
        ax.minorticks_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo-size-ladder")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--max-operand", type=int, default=9)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--n", type=int, default=8, help="samples for self-consistency and best-of-n")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    started = time.time()
    args.out = args.out.resolve()
    made = assets(args.out / "assets", args.train, args.max_operand, args.seed)
    params = made["params"]
    print(f"data: {made['train']} training rows; {made['test']} test questions, {made['test_seen']} of them in the "
          "training rows; models: "
          + ", ".join(f"{m} {SIZES[m][1]} layers x width {SIZES[m][0]} = {params[m] / 1e3:.0f}k" for m in SIZES),
          flush=True)
    checkpoints = {}
    for name in SIZES:
        t0 = time.time()
        checkpoints[name] = fine_tune(args.out, args.out / "assets" / "train.jsonl", name, args.steps, args.lr,
                                      args.seed)
        print(f"{name}: fine-tuned {args.steps} steps in {time.time() - t0:.0f} s", flush=True)
    t0 = time.time()
    launch(ladder_spec(args.out, checkpoints, params, args.out / "assets" / "test.jsonl", args.n,
                       args.temperature, args.seed), {})
    print(f"ladder evaluated in {time.time() - t0:.0f} s", flush=True)
    report(EXPERIMENT, args.out)

    found = measure(args.out, args.n)
    text, stats = table(found, params, args.n)
    ladder = ladder_scores(args.out)
    for name, s in stats.items():  # the demo's per-question figures against the ladder's own scores
        for iv, mine in (("greedy", s["base"][0]), ("cot", s["cot"]), (f"sc{args.n}", s["vote"]),
                         (f"bo{args.n}", s["bon"])):
            if abs(ladder[(name, iv)] - mine) > 1e-9:
                print(f"warning: {name} x {iv}: the ladder scores {ladder[(name, iv)]:.4f}, the demo {mine:.4f}")
    print()
    print(f"{made['test']} test questions; s.e. from per-question outcomes (paired across cells)")
    print(text)
    path = plot(stats, params, args.n, args.out / EXPERIMENT / "report" / "size_ladder_demo.png")
    for name, f in found.items():
        print(f"{name}: the vote against greedy: right where greedy was wrong on {f['vote_fixes']}, wrong where "
              f"greedy was right on {f['vote_breaks']} questions; the verifier's wrong picks with a right sample "
              f"among the {args.n}: {dict(f['misses']) or 'none'}")
    print(f"\nwrote {path}")
    print(f"wall time {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
