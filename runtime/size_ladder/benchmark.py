"""Task `benchmark`: one model x one intervention on the ladder's suites, through
EleutherAI's lm-evaluation-harness used as a library.

The model is loaded once and handed to the harness wrapped in its HF class; tasks are
dicts built from the spec (runtime.size_ladder.harness): local JSONL tasks through the harness's
`json` loader, named tasks from its registry (their data must be in the datasets cache:
offline nodes fail with a message saying how to stage it). Per-sample logs are kept in
`outputs/samples.jsonl`. Best-of-n is chosen here from the logged samples by a verifier;
for sampled interventions the oracle pass@n is reported too, so the verifier's (or the
vote's) gap to it is visible. The chat template is applied to instruct models when the
spec says so, and recorded.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

from runtime.core import data, results
from runtime.core.errors import TaskInputError
from runtime.size_ladder import contamination, fluency, harness
from specs.tasks import RunConfig
from specs.tasks.size_ladder import BenchmarkTask


def normalise(text: str) -> str:
    """As the harness's exact_match here: case, commas, dollar signs and a final period ignored."""
    return re.sub(r"\.$", "", re.sub(r"[,$]", "", str(text))).strip().lower()


def extract(text: str, regex: tuple[str, int]) -> str:
    pattern, group = regex
    found = re.findall(pattern, text)
    if not found:
        return "[invalid]"
    hit = found[group]
    return str(next((h for h in hit if h), "") if isinstance(hit, tuple) else hit)  # as the harness: first group set


def task_configs(tc: BenchmarkTask, base: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Harness configs, and per config name: its suite, ability, extractor and output type."""
    iv = tc.intervention.model_dump()
    configs, info = [], {}
    manager = None
    for suite in (s.model_dump() for s in tc.suites):
        for task in suite["tasks"]:
            if isinstance(task, dict):
                path = data.resolve(task["path"], base)
                _check_task_file(Path(str(path)), task, f"ladder.suites.{suite['name']}: task {task['name']!r}")
                if task["output_type"] != "generate_until" and iv["type"] != "none":
                    continue  # interventions change generation; a scored-choice task has none
                config: dict[str, Any] | None = harness.local_task(suite["name"], {**task, "path": path}, iv)
                output = task["output_type"]
            else:
                if manager is None:
                    manager = task_manager([t for s in tc.suites for t in s.tasks if isinstance(t, str)])
                config, output = named(manager, suite["name"], task, iv, tc.local_data.get(task))
            if config is None:
                continue
            configs.append(config)
            info[config["task"]] = {"suite": suite["name"], "ability": suite["ability"], "output_type": output,
                                    "exact_match": _exact_match(config), "filter": harness.score_filter(config),
                                    "regex": harness.extraction(config)}
    return configs, info


def task_manager(names: list[str]) -> Any:
    """lm-eval's TaskManager over only the harness's task folders that can hold `names` (a
    folder named as the task, or its prefix: gsm8k, bbh for bbh_cot_...); the full index, which
    reads every task YAML the harness ships (4 s, once per cell), only when one is not found."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    root = Path(lm_eval.tasks.__file__).parent
    folders = [str(d) for d in root.iterdir()
               if d.is_dir() and any(n == d.name or n.startswith(d.name + "_") for n in names)]
    if folders:
        quick = TaskManager(include_defaults=False, include_path=folders)
        if all(n in quick.task_index for n in names):
            return quick
    return TaskManager()


def _check_task_file(path: Path, task: dict[str, Any], what: str) -> None:
    """The harness reads a local task file itself (its json loader): an empty, non-UTF-8 or
    malformed file, or rows without an answer, stop here with the line, not in pyarrow."""
    rows = data.read_rows(path, what)
    data.filled(rows, [task["answer_field"]], path, empty="refuse")  # a null answer would score as "None"


def _exact_match(config: dict[str, Any]) -> bool:
    return config.get("output_type") == "generate_until" and any(
        m.get("metric") == "exact_match" for m in config.get("metric_list") or [])


def named(manager: Any, suite: str, task: str, iv: dict[str, Any],
          local: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """A task from the harness's registry, its YAML loaded by the harness's own loader and
    rewritten for the intervention (runtime.size_ladder.harness.named_task); scored-choice tasks
    run under plain decoding only, generation tasks scored otherwise than by exact match
    (e.g. ifeval) not under sampled interventions (a vote needs answers to compare). With
    `local`, a folder of `<split>.jsonl` files, its rows are read from there instead of the
    hub (the harness's `json` loader; a rehearsal's few rows)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = manager.task_index.get(task)
    if entry is None:
        raise TaskInputError(f"ladder.suites.{suite}: {task!r} is not a task lm-evaluation-harness knows "
                             "(`lm-eval ls tasks` lists them)")
    if getattr(entry, "yaml_path", None) is None or task in manager.all_groups or task in manager.all_tags:
        raise TaskInputError(f"ladder.suites.{suite}: {task!r} is a group or tag of the harness; list its tasks "
                             "one by one (each gets its own score)")
    try:
        config = dict(load_yaml(entry.yaml_path, resolve_func=True))
    except ModuleNotFoundError as exc:
        raise TaskInputError(f"ladder.suites.{suite}: the harness's task {task!r} needs the package {exc.name!r}; "
                             f"install it on the nodes (e.g. pip install 'lm-eval[{task.split('_')[0]}]')") from None
    if task.startswith("ifeval"):
        _require_punkt(suite)
    if local is not None:
        splits = {config[k] for k in ("training_split", "validation_split", "test_split", "fewshot_split")
                  if config.get(k)}
        config.update(dataset_path="json", dataset_name=None, dataset_kwargs={
            "data_files": {split: str(Path(local, f"{split}.jsonl")) for split in sorted(splits)}})
    output = str(config.get("output_type", "generate_until"))
    if output != "generate_until" and iv["type"] != "none":
        return None, output
    if not _exact_match(config) and iv["type"] in harness.SAMPLED:
        return None, output
    config = harness.named_task(config, iv)
    config["task"] = f"{suite}__{task}"
    return config, output


def _require_punkt(suite: str) -> None:
    """ifeval's checks split sentences with NLTK's punkt model, which NLTK fetches from
    GitHub on first use: offline nodes fail mid-evaluation without it."""
    import nltk  # type: ignore[import-untyped]

    try:
        nltk.data.find("tokenizers/punkt_tab")
    except LookupError:
        raise TaskInputError(
            f"ladder.suites.{suite}: ifeval needs NLTK's punkt_tab model, which is not on this node and could "
            "not be downloaded; fetch it where the internet is reachable (python -m nltk.downloader -d "
            "/shared/nltk_data punkt_tab) and export NLTK_DATA=/shared/nltk_data in the spec's pass_env") from None


def primary(results: dict[str, Any], kind: str, exact_match: bool, score_filter: str) -> tuple[float, float, str]:
    """The cell's score for a task: the score filter's majority-vote twin for
    self-consistency, the score filter otherwise; a task's own first metric when it is not
    scored by exact match."""
    if not exact_match:
        key = next((k for k in results if "," in k and "_stderr" not in k), None)
        if key is None:
            raise TaskInputError(f"no metric in the harness's results: {sorted(results)}")
        return float(results[key]), float(results.get(key.replace(",", "_stderr,"), 0.0) or 0.0), key
    name = f"{score_filter}-maj" if kind == "self_consistency" else score_filter
    return (float(results[f"exact_match,{name}"]), float(results.get(f"exact_match_stderr,{name}", 0.0)),
            f"exact_match,{name}")


def per_document(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The harness logs a sample once per filter: one entry per document, with every
    filter's extracted answer under "filtered"."""
    docs: dict[Any, dict[str, Any]] = {}
    for s in samples:
        doc = docs.setdefault(s["doc_id"], {**s, "filtered": {}})
        doc["filtered"][str(s.get("filter", "none"))] = s.get("filtered_resps")
    return list(docs.values())


def proportion_stderr(hits: list[bool]) -> float:
    n = len(hits)
    if n < 2:
        return 0.0
    p = sum(hits) / n
    return math.sqrt(p * (1 - p) / (n - 1))


def vllm_lm(tc: BenchmarkTask, base: str, seed: int) -> tuple[Any, Any]:
    """lm-eval's own `vllm` model for the cell (tensor parallel over its GPUs), after the
    checks `runtime.core.vllm_engine` makes before any engine starts; and the tokenizer."""
    import importlib.util
    import sys

    from runtime.core import vllm_engine
    from runtime.core.loaded import note as loaded_note
    from runtime.core.models import load_processing, paths
    from specs.sections import GenerationSettings

    vllm = vllm_engine.import_vllm()
    path, tok_path = paths(tc.model, base)
    vllm_engine.check_supported(vllm, path, GenerationSettings(backend="vllm", vllm=tc.vllm))
    vllm_engine.cpu_defaults()
    from lm_eval.models.vllm_causallms import VLLM

    kwargs = vllm_engine.engine_kwargs(tc.vllm)
    if tc.vllm.data_parallel_size > 1 and importlib.util.find_spec("ray") is None:
        raise TaskInputError(f"ladder.vllm.data_parallel_size {tc.vllm.data_parallel_size}: lm-eval runs vLLM "
                             f"replicas through Ray, which {sys.executable} lacks; install ray there, or set "
                             "data_parallel_size: 1")
    lm = VLLM(pretrained=path, tokenizer=tok_path, dtype=vllm_engine.DTYPES.get(tc.model.dtype, "auto"),
              batch_size="auto", seed=seed, **kwargs)
    loaded_note("model", {"class": vllm_engine.architecture(path)[0], "backend": "vllm (lm-eval)",
                            "vllm": vllm_engine.version(), **vllm_engine.engine_kwargs(tc.vllm)})
    return lm, load_processing(tok_path, False)


def run(run: RunConfig, tc: BenchmarkTask) -> int:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from runtime.core.models import load_model
    from runtime.size_ladder.verifiers import picker

    base = run.base_dir
    iv = tc.intervention.model_dump()
    configs, info = task_configs(tc, base)
    if not configs:
        raise TaskInputError(f"intervention {iv['name']!r} applies to none of the suites' tasks")
    if tc.contamination is not None:  # the originals and their twins, scored like the suites' tasks
        for config in contamination.harness_tasks(tc.contamination, base, iv):
            configs.append(config)
            info[config["task"]] = {"suite": contamination.SUITE, "ability": None, "output_type": "generate_until",
                                    "exact_match": True, "filter": harness.score_filter(config),
                                    "regex": harness.extraction(config)}
    limits = {c["task"]: int((c.get("generation_kwargs") or {}).get("max_gen_toks") or 0) for c in configs}
    probed: dict[str, Any] = {}
    if tc.backend == "vllm":
        lm, tokenizer = vllm_lm(tc, base, run.seed)
    else:
        model, tokenizer = load_model(tc.model, base)
        if tc.fluency_text and iv["type"] == "none":  # a property of the model: once, in its plain cell
            probed.update(fluency.text_perplexity(model, tokenizer, tc.fluency_text, base))
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=tc.batch_size)
    started = time.time()
    try:
        result = simple_evaluate(model=lm, tasks=configs, log_samples=True, limit=tc.limit,
                                 apply_chat_template=tc.chat_template, random_seed=run.seed,
                                 numpy_random_seed=run.seed, torch_random_seed=run.seed,
                                 fewshot_random_seed=run.seed)
    except (ConnectionError, FileNotFoundError) as exc:
        raise TaskInputError(f"a task's data could not be loaded ({exc}); on offline nodes stage it in the "
                             "datasets cache where the hub is reachable (HF_DATASETS_CACHE shared with the nodes)"
                             ) from None
    finally:
        if tc.backend == "vllm":
            from runtime.core.vllm_engine import shutdown

            shutdown(lm.model)
    wall = time.time() - started
    pick = picker(iv, base) if iv["type"] == "best_of_n" else None
    metrics: dict[str, Any] = {"wall_seconds": wall, "chat_template": tc.chat_template}
    by_ability: dict[str, list[tuple[float, float]]] = {}
    oracle: dict[str, list[bool]] = {}
    tokens = questions = 0
    free: tuple[list[str], list[int], list[int]] = ([], [], [])  # answers, their tokens, the token limit
    out = Path(run.outputs["samples"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for name, meta in info.items():
            res = result["results"][name]
            for key, value in res.items():
                if isinstance(value, (int, float)) and "," in key:
                    metrics[f"task/{name}/{key}"] = value
            score, se, used = primary(res, iv["type"], meta["exact_match"], meta["filter"])
            bon_hits = []
            for s in per_document(result["samples"][name]):
                responses = [str(r) for r in (s["resps"][0] if s["resps"] and isinstance(s["resps"][0], list)
                                              else s["resps"])]
                row: dict[str, Any] = {"task": name, "doc_id": s["doc_id"], "target": s["target"],
                                       "prompt": str(s["arguments"][0][0]) if s.get("arguments") else None,
                                       "responses": responses, "filtered": s["filtered"]}
                if meta["output_type"] == "generate_until":
                    counts = [len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in responses]
                    if meta["ability"] is not None:
                        tokens += sum(counts)
                        questions += 1
                        free[0].extend(responses)
                        free[1].extend(counts)
                        free[2].extend([limits[name]] * len(responses))
                    answers = [extract(r, meta["regex"]) for r in responses]
                    hits = [normalise(a) == normalise(str(s["target"])) for a in answers]
                    row["answers"] = answers
                    if iv["type"] in harness.SAMPLED and meta["ability"] is not None:
                        oracle.setdefault(meta["ability"], []).append(any(hits))
                    if pick is not None:
                        chosen = pick(row["prompt"] or "", responses)
                        row["chosen"] = chosen
                        bon_hits.append(hits[chosen])
                fh.write(json.dumps(row, default=str) + "\n")
            if pick is not None and bon_hits:
                score, se, used = sum(bon_hits) / len(bon_hits), proportion_stderr(bon_hits), "best_of_n"
                metrics[f"task/{name}/best_of_n"] = score
            metrics[f"task/{name}/score"] = score
            metrics[f"task/{name}/score_stderr"] = se
            metrics[f"task/{name}/score_is"] = used
            if meta["ability"] is not None:
                by_ability.setdefault(meta["ability"], []).append((score, se))
    from runtime.size_ladder.arithmetic import mean_with_stderr

    for ability, scores in by_ability.items():
        metrics[f"ability/{ability}"], metrics[f"ability/{ability}_stderr"] = mean_with_stderr(scores)
    for ability, hits in oracle.items():
        metrics[f"pass_at_n/{ability}"] = sum(hits) / len(hits)
    if questions:
        metrics["tokens_per_question"] = tokens / questions
    if tc.contamination is not None:
        metrics.update(contamination.scores(metrics))
        if iv["type"] == "none" and tc.backend == "hf":  # Min-K% is the model's, not the intervention's
            metrics.update(contamination.min_k(model, tokenizer, tc.contamination, base, tc.limit,
                                               out.parent / "min_k.jsonl"))
    if tc.fluency:
        metrics.update(fluency.cell_metrics(*free))
    metrics.update(probed)
    first = next(iter(by_ability), None)
    results.finish(run, metrics, primary=f"ability/{first}" if first else None)
    return 0
