"""Kind `size_ladder`: one model family at many sizes x light inference-time
interventions, each cell an evaluation job, then one aggregation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import SLUG, ExperimentBase
from specs.sections import Memory, ModelSpec, ParamCount, Precision, Section, VLLMSettings

Ability = Literal["commonsense", "instruction_following", "fluency", "math", "logic", "knowledge", "other"]


class LadderModel(Section):
    name: str = Field(pattern=SLUG)
    name_or_path: str = Field(min_length=1)
    family: str = ""
    size: ParamCount = Field(description="parameters, e.g. 0.5B")
    variant: Literal["base", "instruct"] = "instruct"
    dtype: Precision = "bf16"


class LocalTask(Section):
    """A task from a local JSONL file, for lm-evaluation-harness's json loader."""

    name: str = Field(pattern=SLUG)
    path: str
    output_type: Literal["generate_until", "multiple_choice", "loglikelihood"] = "generate_until"
    prompt_template: str = "{{question}}"
    answer_field: str = "answer"
    choices_field: str | None = None
    answer_extractor: Literal["none", "last_number", "boxed", "regex"] = "last_number"
    metric: Literal["exact_match", "acc", "acc_norm", "perplexity"] = "exact_match"
    num_fewshot: int = Field(0, ge=0)


class Suite(Section):
    name: str = Field(pattern=SLUG)
    ability: Ability
    tasks: list[str | LocalTask] = Field(min_length=1)


class Intervention(Section):
    name: str = Field(pattern=SLUG)
    type: Literal["none", "cot", "self_consistency", "best_of_n"] = "none"
    n: int = Field(1, gt=0, le=10_000)
    temperature: float = Field(0.0, ge=0)
    verifier: Literal["rule", "reward_model"] | None = None
    verifier_model: str | None = None
    max_new_tokens: int | None = Field(None, gt=0, description="default: 64 plain, 256 with a chain of thought")


class ResourceTier(Section):
    """Models up to `max_params` get this many GPUs (overrides the estimate from gpu_mem_gb)."""

    max_params: ParamCount
    gpus: int = Field(gt=0, le=64)
    mem: Memory | None = None


class Contamination(Section):
    """Contamination-aware scores: perturbed twins of a GSM8K-format math task (the question's
    numbers changed, the gold answer recomputed through the rationale's <<a*b=c>> steps;
    runtime.size_ladder.twins), scored beside their originals in every cell, and the Min-K%
    Prob memorisation probe on both."""

    task: str = Field(description="a local generate_until task of the suites, in GSM8K format")
    question_field: str = "question"
    rationale_field: str = Field("answer", description="the annotated rationale ending in '#### N' (GSM8K: answer)")
    min_k: float = Field(0.2, gt=0, le=1, description="Min-K% Prob: the share of lowest-probability tokens averaged")
    seed: int = 0


class Fluency(Section):
    """Fluency as an ability row: distinct-2, repetition and cut-off share of every cell's free-form
    answers, their perplexity under a judge model of the family, and each model's perplexity on
    a held-out human-written text."""

    text: str | None = Field(None, description="a held-out human-written text file (UTF-8)")
    judge: str | None = Field(None, description="the ladder model that judges answers; default: the largest")


class LadderSection(Section):
    models: list[LadderModel] = Field(min_length=1)
    suites: list[Suite] = Field(min_length=1)
    interventions: list[Intervention] = Field(default_factory=lambda: [Intervention(name="none")])
    chat_template: bool = Field(True, description="applied to instruct models; recorded in results")
    limit: int | None = Field(None, gt=0, description="samples per task (for quick looks)")
    batch_size: int = Field(8, gt=0, le=65_536)
    tiers: list[ResourceTier] = Field(default_factory=list)
    backend: Literal["hf", "vllm"] = Field("hf", description=(
        "hf: lm-eval's HFLM (a model over a cell's GPUs by device_map, one at a time); vllm: lm-eval's "
        "vllm model, tensor parallel over the cell's GPUs, in stages.evaluate.python's environment"))
    vllm: VLLMSettings = Field(default_factory=VLLMSettings, description=(
        "tensor_parallel_size defaults to each cell's GPUs; data_parallel_size splits them into replicas"))
    contamination: Contamination | None = None
    fluency: Fluency | None = None


class SizeLadderExperiment(ExperimentBase):
    stage_types: ClassVar[dict[str, bool]] = {"evaluate": False, "aggregate": False}

    kind: Literal["size_ladder"]
    model: ModelSpec | None = None  # type: ignore[assignment]  # the ladder lists its models
    ladder: LadderSection

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        lad = self.ladder
        for field, items in (("models", lad.models), ("suites", lad.suites),
                             ("interventions", lad.interventions)):
            names = [it.name for it in items]
            for i, name in enumerate(names):
                if name in names[:i]:
                    yield f"ladder.{field}.{i}.name", f"name {name!r} is used twice"
        for i, iv in enumerate(lad.interventions):
            at = f"ladder.interventions.{i}"
            if iv.type in ("self_consistency", "best_of_n") and iv.n < 2:
                yield f"{at}.n", f"{iv.type} needs n >= 2 samples"
            if iv.type in ("self_consistency", "best_of_n") and iv.temperature <= 0:
                yield f"{at}.temperature", f"{iv.type} samples: set a temperature above 0 (e.g. 0.7)"
            if iv.type == "best_of_n" and iv.verifier is None:
                yield f"{at}.verifier", "best_of_n needs a verifier: rule or reward_model"
            if iv.verifier == "reward_model" and not iv.verifier_model:
                yield f"{at}.verifier_model", "a reward_model verifier needs verifier_model (hub id or path)"
        cells = len(lad.models) * len(lad.interventions)
        if cells * max(self.sweep.size(), 1) > self.sweep.max_points:
            yield ("ladder.models", f"{len(lad.models)} models x {len(lad.interventions)} interventions make "
                                    f"{cells:,} cells per grid point, more than sweep.max_points "
                                    f"({self.sweep.max_points:,}); cut the ladder or raise sweep.max_points")
        yield from self._probe_problems()
        sizes = [t.max_params for t in lad.tiers]
        if sizes != sorted(sizes):
            yield "ladder.tiers", "list tiers from the smallest max_params up"
        if lad.tiers and max(m.size for m in lad.models) > sizes[-1]:
            yield "ladder.tiers", "the largest model exceeds every tier's max_params; add a tier"

    def _probe_problems(self) -> Iterator[tuple[str, str]]:
        lad = self.ladder
        if lad.contamination is not None:
            local = {t.name: t for s in lad.suites for t in s.tasks if isinstance(t, LocalTask)}
            task = local.get(lad.contamination.task)
            if task is None:
                yield ("ladder.contamination.task", f"{lad.contamination.task!r} is not a local task of the suites "
                       f"({', '.join(sorted(local)) or 'none'}): twins are made from a local GSM8K-format file")
            elif task.output_type != "generate_until":
                yield "ladder.contamination.task", f"{task.name!r} is {task.output_type}: twins need answers generated"
        if lad.fluency is not None and lad.fluency.judge is not None and \
                lad.fluency.judge not in {m.name for m in lad.models}:
            yield "ladder.fluency.judge", f"{lad.fluency.judge!r} is not a ladder model's name"
        if lad.backend == "vllm" and (lad.contamination is not None or lad.fluency is not None):
            yield ("ladder.backend", "the Min-K% probe and the fluency perplexities read token log-probabilities "
                   "through transformers: use backend hf with ladder.contamination or ladder.fluency")
