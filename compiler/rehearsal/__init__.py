"""`--rehearse`: the same plan, cheaply, exactly as it will run.

Every stage, the same DAG, the same task configs, ZeRO stage, LoRA or full tuning, losses
and evaluators; then:

- every model, tokenizer and processor becomes a rehearsal model of the same class
  (`architectures`), random, width and depth shrunk (or at real shapes), built once per
  source under the output root;
- every data file becomes a few rows in the same format for the same reader: the first
  rows of the real file when it is on disk, else format-true synthetic rows;
- steps, samples, new tokens and evaluated rows are capped, and resources fit the
  machine (CPU processes; on SLURM the node count is kept);
- the experiment is `<name>.rehearsal`, with its own run ids, ledger rows and reports.

What to build goes into one extra run, `rehearsal_assets`, which every other run waits
for. Torch-free: this runs on the login node.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from compiler.nodes import parse_ref
from compiler.rehearsal import architectures as arch
from specs.errors import CompileError
from specs.kinds.formula_dpo import FormulaDataset, MiningSettings, SyntheticFormulas
from specs.kinds.radio import DistillSettings, EncoderEvaluation, MLLMSettings, Student, Teacher
from specs.kinds.size_ladder import Intervention, LocalTask, Suite
from specs.sections import (
    DeepSpeedSpec,
    EvaluationSettings,
    GenerationSettings,
    GRPOSettings,
    ModelSpec,
    ResourcesSpec,
    TrainingSpec,
)
from specs.tasks import DatasetRef, TaskConfig
from specs.tasks.radio import MLLMTask
from specs.tasks.reasoning import FilterChainsTask, PlanSolveTask, Rationalization, ReasoningEvalOptions
from specs.tasks.rehearsal import RehearsalAssetsTask, RehearsalData, RehearsalModel
from specs.tasks.size_ladder import BenchmarkTask, TwinsTask

SUFFIX = ".rehearsal"
STEPS = 2  # optimizer steps per training stage
NEW_TOKENS = 8
SAMPLES = 2  # samples per prompt where the spec asks for several
GRPO_GROUP = 2  # answers per prompt in a rehearsal: fills its batch of one answer on each of two processes
EVAL_ROWS = 8
SHARDS = 2  # array tasks of a sharded stage: still an array and a merge, at a quarter of the loads
MINUTES = 30
# the layouts and formats runtime.rehearsal.data writes, for data that is not on this machine
WRITERS: dict[str, tuple[str, ...]] = {
    **{layout: ("jsonl", "json", "parquet") for layout in ("text", "math", "pairs", "image_text")},
    "captions": ("jsonl",), "vqa": ("jsonl",), "ladder_task": ("jsonl",), "lm_eval": ("json",),
    "images": ("folder",), "image_classes": ("folder",), "formula": ("unimer", "im2latex", "folder_jsonl"),
}
# named lm-eval tasks whose data the rehearsal can write (their hub data set, its rows' shape)
LM_EVAL_DATA = {"gsm8k": "openai/gsm8k", "hellaswag": "Rowan/hellaswag", "winogrande": "allenai/winogrande",
                "piqa": "baber/piqa", "ifeval": "google/IFEval",
                "bbh_cot_fewshot_logical_deduction_five_objects": "SaylorTwift/bbh"}


@dataclass
class Rehearsal:
    """The options of a rehearsal and what it collects while the plan compiles."""

    executor: Literal["local", "slurm"] = "local"
    partition: str | None = None
    shapes: Literal["small", "real"] = "small"
    gpus: int = 0  # GPUs a node may use (a rehearsal at real shapes on a GPU node); 0: CPU processes
    steps: int = STEPS
    rows: int = 32
    root: str = ""  # <output root>/.labspec/rehearsal, set by the compiler
    base_dir: str = ""
    kind: str = ""
    models: dict[str, RehearsalModel] = field(default_factory=dict)
    datasets: dict[str, RehearsalData] = field(default_factory=dict)
    grpo: bool = False  # the plan has a GRPO stage (its groups are cut to fit the rehearsal's batch)

    def notes(self) -> list[str]:
        """What the rehearsal changes, for the plan's table."""
        devices = f"at most {self.gpus} GPU(s) a node" if self.gpus else "no GPU"
        where = (f"this machine: 1 node, {devices}, {'2 processes' if not self.gpus else 'a process a GPU'} "
                 "for multi-process training" if self.executor == "local" else
                 f"SLURM{f' partition {self.partition}' if self.partition else ''}: the spec's node count, "
                 f"{devices}, {'1 process' if not self.gpus else 'a process a GPU'} a node")
        shapes = "at their real shapes" if self.shapes == "real" else "width and depth shrunk"
        return [f"rehearsal: {len(self.models)} model(s) replaced by random models of the same class ({shapes}), "
                f"{len(self.datasets)} data file(s) by {self.rows} rows in the same format",
                f"rehearsal: {self.steps} optimizer steps per training stage, at most {NEW_TOKENS} new tokens and "
                f"{SAMPLES} samples per prompt, {EVAL_ROWS} evaluated rows, {SHARDS} shards, "
                f"{'the spec' + chr(39) + 's precision' if self.gpus else 'fp32'}, no offload",
                f"rehearsal: resources fit {where}; {MINUTES} minutes a run",
                *(["rehearsal: chain filters keep the gold rationale too (include_gold): a random model is never "
                   "right"] if self.kind == "reasoning" else []),
                *([f"rehearsal: GRPO answers in groups of {GRPO_GROUP} (the batch is one answer a process)"
                   + ("" if self.gpus else ", generated by transformers (TRL's colocated vLLM needs GPUs)")]
                  if self.grpo else [])]

    # --- resources, training, DeepSpeed -------------------------------------------------

    def resources(self, res: ResourcesSpec, trains: bool) -> ResourcesSpec:
        nodes = res.nodes if self.executor == "slurm" else 1
        partition = self.partition if self.executor == "slurm" else None
        if self.gpus:
            gpus = min(res.gpus_per_node, self.gpus)
            return ResourcesSpec(nodes=nodes, gpus_per_node=gpus, procs_per_node=res.procs if gpus else 1,
                                 cpus_per_task=res.cpus_per_task, mem=None, time=MINUTES, partition=partition)
        procs = 1 if self.executor == "slurm" else (min(res.world_size, 2) if trains else 1)
        return ResourcesSpec(nodes=nodes, gpus_per_node=0, procs_per_node=procs, cpus_per_task=2, mem=None,
                             time=MINUTES, partition=partition)

    def training(self, tr: TrainingSpec, world_size: int) -> TrainingSpec:
        """A few steps, a checkpoint after each (saving is rehearsed too), the spec's precision
        on GPUs and fp32 on CPUs; on GPUs the spec's micro-batch (its memory is what a real-shape
        rehearsal measures)."""
        micro = tr.micro_batch_size if self.gpus else 1
        return tr.model_copy(update={"max_steps": self.steps, "micro_batch_size": micro,
                                     "global_batch_size": micro * world_size,
                                     "save_steps": max(1, self.steps // 2), "logging_steps": 1,
                                     "precision": tr.precision if self.gpus else "fp32",
                                     "warmup_steps": 0, "warmup_ratio": 0.0})

    def deepspeed(self, ds: DeepSpeedSpec) -> DeepSpeedSpec:
        return ds.model_copy(update={"offload_optimizer": ds.offload_optimizer.model_copy(update={"device": "none"}),
                                     "offload_param": ds.offload_param.model_copy(update={"device": "none"})})

    def env(self, res: ResourcesSpec, config: TaskConfig) -> dict[str, str]:
        """A model the real job spreads over several GPUs goes through the same device_map
        dispatch here (onto the CPU); ifeval's sentence splitter finds the stand-in punkt
        model the rehearsal stages (NLTK would download its own)."""
        env = {"LABSPEC_REHEARSE_SPREAD": "1"} if res.gpus_per_node > 1 and res.procs == 1 else {}
        if isinstance(config, BenchmarkTask) and "ifeval" in config.local_data:
            env["NLTK_DATA"] = str(Path(config.local_data["ifeval"], "nltk_data"))
        return env

    # --- task configs ---------------------------------------------------------------------

    def task(self, config: TaskConfig) -> TaskConfig:
        """The config with every model and data file replaced and every size capped."""
        out = self._walk(config, type(config).__name__)
        assert isinstance(out, TaskConfig)
        return out

    def _walk(self, value: Any, where: str) -> Any:
        if isinstance(value, BaseModel):
            replaced = self._replace(value, where)
            if replaced is not value:
                return replaced
            update = {}
            for name in type(value).model_fields:
                old = getattr(value, name)
                new = self._walk(old, f"{where}.{name}")
                if new is not old:
                    update[name] = new
            value = value.model_copy(update=update) if update else value
            return self._cap(value, where)
        if isinstance(value, list):
            items = [self._walk(v, f"{where}.{i}") for i, v in enumerate(value)]
            return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
        return value

    def _replace(self, value: BaseModel, where: str) -> BaseModel:
        """Models and data sets, swapped as a whole (their fields need no walk)."""
        if isinstance(value, ModelSpec):  # ModelRef, and the spec's own model sections
            swap = {"name_or_path": self.model(value.name_or_path, where)}
            if value.tokenizer:
                swap["tokenizer"] = self.model(value.tokenizer, f"{where}.tokenizer")
            return value.model_copy(update=swap)
        if isinstance(value, Teacher):
            return value.model_copy(update={"name_or_path": self.model(value.name_or_path, where)})
        if isinstance(value, DatasetRef):
            if parse_ref(value.path):
                return value  # an upstream run's output: the plan produces it
            layout = self._layout(value, where)
            return value.model_copy(update={"path": self.data(where, value.path, layout, value.format, {
                "prompt_field": value.prompt_field, "completion_field": value.completion_field,
                "chosen_field": value.chosen_field, "rejected_field": value.rejected_field,
                "image_field": value.image_field}), "max_samples": None})
        return value

    def _layout(self, ref: DatasetRef, where: str) -> Any:
        if self.kind == "reasoning":
            return "math"
        if ref.image_field:
            return "image_text"
        return "pairs" if where.startswith("DPOTask.pairs") else "text"

    def _cap(self, value: BaseModel, where: str) -> BaseModel:
        """Sizes capped, and the data paths inside route sections swapped."""
        update: dict[str, Any] = {}
        if isinstance(value, GenerationSettings):
            update = {"max_new_tokens": min(value.max_new_tokens, NEW_TOKENS), "batch_size": min(value.batch_size, 8),
                      "num_samples": min(value.num_samples, SAMPLES), "shards": min(value.shards, 2)}
        elif isinstance(value, EvaluationSettings):
            update = {"max_samples": min(value.max_samples or EVAL_ROWS, EVAL_ROWS)}
            if value.data:
                update["data"] = self.data(f"{where}.data", value.data, "text", "jsonl", {})
        elif isinstance(value, Intervention):
            update = {"n": min(value.n, SAMPLES), "max_new_tokens": NEW_TOKENS * 2}
            if value.verifier_model:
                update["verifier_model"] = self.model(value.verifier_model, f"{where}.verifier_model")
        elif isinstance(value, BenchmarkTask):
            update = {"limit": min(value.limit or 4, 4), "batch_size": min(value.batch_size, 4),
                      "local_data": {**value.local_data, **self._lm_eval_data(value.suites, where)}}
        elif isinstance(value, TwinsTask):  # the same rows as the suite's task, with worked answers to twin
            update = {"data": self.data(f"{where}.data", value.data, "ladder_task", "jsonl", {
                "answer_field": "gold", "rationale_field": value.rationale_field,
                "template": "{{" + value.question_field + "}}", "output_type": "generate_until"})}
        elif isinstance(value, LocalTask):
            update = {"path": self.data(f"{where}.path", value.path, "ladder_task", "jsonl", {
                "answer_field": value.answer_field, "choices_field": value.choices_field,
                "template": value.prompt_template, "output_type": value.output_type})}
        elif isinstance(value, FormulaDataset):
            update = self._formula(value, where)
        elif isinstance(value, MiningSettings):
            update = {"max_images": min(value.max_images or EVAL_ROWS, EVAL_ROWS),
                      "extra_samples": min(value.extra_samples, SAMPLES)}
        elif isinstance(value, DistillSettings):
            update = {"data": self.data(f"{where}.data", value.data, "images", "folder", {}),
                      "calibration_batches": 1}
        elif isinstance(value, EncoderEvaluation):
            update = {"data": self.data(f"{where}.data", value.data, "image_classes", "folder", {}), "classes": None}
        elif isinstance(value, MLLMSettings):
            update = {"llm": self.model(value.llm, f"{where}.llm"),
                      **{name: self.data(f"{where}.{name}", getattr(value, name), layout, "jsonl", {})
                         for name, layout in (("pretrain_data", "captions"), ("finetune_data", "vqa"),
                                              ("eval_data", "vqa"))}}
        elif isinstance(value, Student) and self.shapes == "small":
            update = {"width": 32, "depth": 2, "heads": 2, "registers": min(value.registers, 1), "init": None}
        elif isinstance(value, ReasoningEvalOptions):
            update = {"majority_k": min(value.majority_k, SAMPLES),
                      "max_new_tokens": min(value.max_new_tokens, NEW_TOKENS * 2)}
        elif isinstance(value, Rationalization):
            update = {"max_new_tokens": min(value.max_new_tokens, NEW_TOKENS * 2)}
        elif isinstance(value, FilterChainsTask):  # a random model is never right: train on the gold chains
            update = {"include_gold": True}
        elif isinstance(value, GRPOSettings):
            self.grpo = True
            update = {"group_size": GRPO_GROUP, **({} if self.gpus else {"backend": "hf"}),
                      "max_completion_length": min(value.max_completion_length, NEW_TOKENS * 2)}
        elif isinstance(value, PlanSolveTask):
            update = {"max_plan_tokens": NEW_TOKENS * 2, "max_new_tokens": NEW_TOKENS * 2}
        elif isinstance(value, MLLMTask) and not parse_ref(value.data):
            update = {"data": self.data(f"{where}.data", value.data, "captions" if value.phase == "pretrain" else "vqa",
                                        "jsonl", {})}
        update = {k: v for k, v in update.items() if getattr(value, k) != v}
        return value.model_copy(update=update) if update else value

    def _formula(self, ds: FormulaDataset, where: str) -> dict[str, Any]:
        if ds.format == "synthetic":
            syn = ds.synthetic or SyntheticFormulas()
            return {"synthetic": syn.model_copy(update={"n_train": min(syn.n_train, self.rows),
                                                        "n_test": min(syn.n_test, EVAL_ROWS)})}
        assert ds.root is not None
        if _local(ds.root, self.base_dir).is_dir():  # the real data set, its first rows (the readers' own cap)
            return {"max_train": min(ds.max_train or self.rows, self.rows),
                    "max_test": min(ds.max_test or EVAL_ROWS, EVAL_ROWS)}
        fields = {"test_subsets": list(ds.test_subsets), "train_split": ds.train_split, "test_split": ds.test_split}
        return {"root": self.data(f"{where}.root", ds.root, "formula", ds.format, fields),
                "max_train": None, "max_test": None}

    def _lm_eval_data(self, suites: list[Suite], where: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for suite in suites:
            for task in suite.tasks:
                if not isinstance(task, str):
                    continue
                if task not in LM_EVAL_DATA:
                    raise CompileError(
                        f"{where}: the rehearsal has no synthetic rows for lm-evaluation-harness's task {task!r} "
                        f"(it writes {', '.join(sorted(LM_EVAL_DATA))}); rehearse without it "
                        f"(-o 'ladder.suites=...') or add a writer in runtime/rehearsal/data.py")
                out[task] = self.data(f"{where}.suites", f"lm-eval:{task}", "lm_eval", "json", {"task": task,
                                                                               "dataset": LM_EVAL_DATA[task]})
        return out

    # --- what to build -------------------------------------------------------------------

    def model(self, name: str, where: str) -> str:
        """The rehearsal model standing in for `name` (an upstream run's output stays)."""
        if parse_ref(name):
            return name
        key = _slug(name) + ("-real" if self.shapes == "real" else "")
        if key not in self.models:
            self.models[key] = self._model(name, str(Path(self.root, "models", key)), where)
        return self.models[key].path

    def _model(self, name: str, path: str, where: str) -> RehearsalModel:
        files = _on_disk(name, self.base_dir)
        if files is not None:
            config = json.loads((files / "config.json").read_text(encoding="utf-8"))
            family = arch.FAMILIES.get(str(config.get("model_type")))
            if family is None:
                raise CompileError(f"{where}: {name} is a {config.get('model_type')!r} model ({files}), which the "
                                   f"rehearsal cannot rebuild yet (it knows {', '.join(sorted(arch.FAMILIES))})")
            architecture, tokenizer, processor = family
            has_tokenizer = (files / "tokenizer.json").is_file() or (files / "tokenizer_config.json").is_file()
            return RehearsalModel(path=path, source=name, architecture=architecture, config=self._shrink(config),
                                  tokenizer="copy" if has_tokenizer and tokenizer != "none" else tokenizer,
                                  processor=processor, files_from=str(files))
        entry = arch.known(name)
        if entry is None:
            raise CompileError(
                f"{where}: the rehearsal does not know the model {name!r}: its files are not on disk (neither a "
                "local folder nor the Hugging Face cache) and it is not in labspec's table of architectures "
                f"({', '.join(sorted(arch.KNOWN))}). Put its config.json (and tokenizer files) in a folder and point "
                "the spec at it, or copy it into the hub cache (huggingface-cli download NAME config.json "
                "tokenizer.json tokenizer_config.json)")
        return RehearsalModel(path=path, source=name, architecture=entry["architecture"],
                              config=self._shrink(dict(entry["config"])), tokenizer=entry["tokenizer"],
                              processor=entry["processor"])

    def _shrink(self, config: dict[str, Any]) -> dict[str, Any]:
        if self.shapes == "real":
            return config
        kind = str(config.get("model_type"))
        if kind == "qwen2_vl":
            text = {**config, **arch.SMALL_TEXT, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}}
            text.pop("text_config", None)
            vision = {**config.get("vision_config", {}), **arch.SMALL_QWEN2_VL_VISION,
                      "hidden_size": arch.SMALL_TEXT["hidden_size"]}
            return {**text, "vision_config": vision}
        if kind in ("qwen2", "llama", "mistral"):
            return {**config, **arch.SMALL_TEXT}
        if kind in ("convnext", "convnextv2"):
            return {**config, **arch.SMALL_CONVNEXT}
        small = {k: v for k, v in arch.SMALL_VISION.items() if k in config}
        out = {**config, **small}
        if "global_attn_indexes" in config:  # SAM: global attention in the last of the kept layers
            out["global_attn_indexes"] = [arch.SMALL_VISION["num_hidden_layers"] - 1]
        return out

    def data(self, where: str, source: str, layout: Any, fmt: str, fields: dict[str, Any]) -> str:
        """The few rows standing in for the data at `source` (named `where` in the spec)."""
        key = _slug(source)
        if key not in self.datasets:
            local = _local(source, self.base_dir)
            on_disk = not source.startswith("lm-eval:") and local.exists()
            if not on_disk and fmt not in WRITERS.get(layout, ()):
                raise CompileError(
                    f"{where}: {source} is not on this machine and the rehearsal has no synthetic writer for "
                    f"{layout} data in the {fmt!r} format (it writes {', '.join(WRITERS.get(layout, ())) or 'none'}); "
                    "put the data (or its first rows, in the same format) at that path, or use a format it writes")
            name = Path(source.split(":")[-1]).name or "data"
            folder = layout in ("formula", "images", "image_classes", "lm_eval") or fmt in ("folder", "hf_disk")
            path = Path(self.root, "data", key) if folder else Path(self.root, "data", key, name)
            self.datasets[key] = RehearsalData(path=str(path), source=str(local) if on_disk else source,
                                               layout=layout, format=fmt, fields=fields, rows=self.rows,
                                               from_disk=on_disk)
        return self.datasets[key].path

    def assets(self) -> RehearsalAssetsTask:
        return RehearsalAssetsTask(models=list(self.models.values()), datasets=list(self.datasets.values()))


def _local(path: str, base_dir: str) -> Path:
    return Path(path).expanduser() if os.path.isabs(path) or path.startswith("~") else Path(base_dir, path)


def _slug(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip("/")).strip("-")[-60:] or "x"
    return f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _on_disk(name: str, base_dir: str) -> Path | None:
    """The folder holding `name`'s config.json: a local path, or a snapshot in the hub cache."""
    local = Path(name).expanduser() if os.path.isabs(name) or name.startswith("~") else Path(base_dir, name)
    if (local / "config.json").is_file():
        return local
    if name.count("/") != 1:
        return None
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" /
                                                                     "huggingface")) / "hub")
    snapshots = hub / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json")) if snapshots.is_dir() else []
    return found[-1].parent if found else None
