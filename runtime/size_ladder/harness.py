"""lm-evaluation-harness task configs from the spec: a local task (JSONL through the
harness's `json` loader) or a task the harness knows by name, rewritten for one
intervention.

- none: the prompt as written, greedy.
- cot: the prompt plus a step-by-step instruction, greedy, room to reason.
- self_consistency: the cot prompt sampled n times at a temperature; majority vote over the
  extracted answers (the harness's regex -> majority_vote -> take_first, as in its
  gsm8k-cot-self-consistency task), reported as the `-maj` twin of the filter.
- best_of_n: the same n samples; the choice among them is made afterwards by a verifier
  (runtime.size_ladder.verifiers: the harness has none), from the per-sample logs.

Local tasks always report two extractions, because they differ a lot: `flexible` (the
task's extractor, e.g. the last number) and `strict` (only an answer stated as "The answer
is X"); the harness's own tasks keep theirs (gsm8k: strict-match and flexible-extract).
"""

from __future__ import annotations

import copy
from typing import Any

COT = "Let's think step by step, and end with \"The answer is <answer>.\""
NUMBER = r"(-?[0-9][0-9,]*(?:\.[0-9]+)?)"
STRICT = r"[Tt]he answer is:?\s*\$?(-?[0-9][0-9,]*(?:\.[0-9]+)?|[^\s.]+)"
EXTRACTORS = {"last_number": (NUMBER, -1), "boxed": (r"\\boxed\{([^{}]*)\}", -1), "regex": (STRICT, 0),
              "none": (r"(?s)^\s*(.*?)\s*$", 0)}
SAMPLED = ("self_consistency", "best_of_n")


def _regex(pattern: str, group: int) -> dict[str, Any]:
    return {"function": "regex", "regex_pattern": pattern, "group_select": group}


def filters(extractor: str, sampled: bool) -> list[dict[str, Any]]:
    """flexible and strict extraction; for sampled interventions also majority vote."""
    flexible = _regex(*EXTRACTORS[extractor])
    strict = _regex(STRICT, 0)
    out = [{"name": "flexible", "filter": [flexible, {"function": "take_first"}]},
           {"name": "strict", "filter": [strict, {"function": "take_first"}]}]
    if sampled:
        vote = [flexible, {"function": "majority_vote"}, {"function": "take_first"}]
        out.append({"name": "flexible-maj", "filter": vote})
    return out


def generation(intervention: dict[str, Any], cot: bool) -> dict[str, Any]:
    sampled = intervention["type"] in SAMPLED
    kwargs: dict[str, Any] = {"until": ["\n\nQ:", "\n\n\n"], "max_gen_toks": int(
        intervention.get("max_new_tokens") or (256 if cot else 64)), "do_sample": sampled}
    if sampled:
        kwargs["temperature"] = float(intervention["temperature"])
    return kwargs


def local_task(suite: str, task: dict[str, Any], intervention: dict[str, Any]) -> dict[str, Any]:
    """A harness task config for a LocalTask (the spec's dict) under one intervention."""
    kind = intervention["type"]
    cot = kind != "none" and task["output_type"] == "generate_until"
    config: dict[str, Any] = {
        "task": f"{suite}__{task['name']}",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": task["path"]}},
        "test_split": "test",
        "output_type": task["output_type"],
        "doc_to_text": task["prompt_template"] + (f"\n{COT}" if cot else ""),
        "doc_to_target": "{{" + task["answer_field"] + "}}",
        "num_fewshot": task["num_fewshot"],
        "metadata": {"version": 1.0},
    }
    if task["num_fewshot"]:
        config["fewshot_split"] = "test"  # a local file has one split: shots are drawn from it (the doc excluded)
    if task["output_type"] == "generate_until":
        config["generation_kwargs"] = generation(intervention, cot)
        config["repeats"] = int(intervention["n"]) if kind in SAMPLED else 1
        config["filter_list"] = filters(task["answer_extractor"], kind in SAMPLED)
        config["metric_list"] = [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                                  "ignore_case": True, "ignore_punctuation": False,
                                  "regexes_to_ignore": [",", r"\$", r"\.$"]}]
    else:
        if task.get("choices_field"):
            config["doc_to_choice"] = "{{" + task["choices_field"] + "}}"
        metric = task["metric"] if task["metric"] != "exact_match" else "acc"
        config["metric_list"] = [{"metric": metric, "aggregation": "mean" if metric != "perplexity" else "perplexity",
                                  "higher_is_better": metric != "perplexity"}]
    return config


def named_task(config: dict[str, Any], intervention: dict[str, Any]) -> dict[str, Any]:
    """A task the harness ships (its YAML config) under an intervention. Plain decoding runs
    it as shipped, with its own filters; cot adds the step-by-step instruction; sampled
    interventions sample n times and add a majority-vote twin (`<name>-maj`) of each of its
    filters, as its gsm8k-cot-self-consistency task does."""
    out = copy.deepcopy(config)
    kind = intervention["type"]
    if kind == "none" or out.get("output_type") != "generate_until":
        return out
    out.pop("tag", None)  # the rewritten task is ours, not a member of the harness's tags
    out["doc_to_text"] = str(out.get("doc_to_text", "")) + f"\n{COT}"
    own = out.get("generation_kwargs") or {}
    out["generation_kwargs"] = {**own, **generation(intervention, True), "until": own.get("until", ["\n\n"])}
    if kind in SAMPLED:
        out["repeats"] = int(intervention["n"])
        pipelines = out.get("filter_list") or [{"name": "none", "filter": [{"function": "take_first"}]}]
        votes = []
        for f in pipelines:
            steps = [step for step in f["filter"] if step.get("function") != "take_first"]
            votes.append({"name": f"{f['name']}-maj",
                          "filter": [*steps, {"function": "majority_vote"}, {"function": "take_first"}]})
        out["filter_list"] = [*pipelines, *votes]
    return out


def score_filter(config: dict[str, Any]) -> str:
    """The filter whose exact match is the task's score: a flexible extraction when there
    is one (ours, or the harness's flexible-extract), else the first."""
    names = [str(f["name"]) for f in config.get("filter_list") or [] if not str(f["name"]).endswith("-maj")]
    if not names:
        return "none"
    return next((n for n in names if "flex" in n), names[0])


def extraction(config: dict[str, Any]) -> tuple[str, int]:
    """The regex (pattern, group) of the score filter, to extract answers from samples."""
    name = score_filter(config)
    for f in config.get("filter_list") or []:
        if f["name"] == name:
            for step in f["filter"]:
                if step.get("function") == "regex":
                    return str(step["regex_pattern"]), int(step.get("group_select", 0))
    return EXTRACTORS["none"]
