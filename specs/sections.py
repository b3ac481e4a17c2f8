"""The sections every experiment shares: model, data, training, DeepSpeed, PEFT,
resources, TensorBoard, sweep and per-stage overrides.

Field-level checks (ranges, enums, unit parsing) live here; checks that relate
several fields live in `specs.rules`, grouped by domain, so that every problem of a
spec is reported at once with the exact field it concerns.

All fields have defaults except the few a spec cannot do without. That lets the same
classes describe per-stage overrides: an override applies only the fields it sets
(`model_fields_set`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from specs import units
from specs.merge import deep_merge

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # used with fullmatch: `$` would let "A\n" by
SECRET_NAME = re.compile(
    r"(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|CREDENTIALS?)(_|$)", re.I
)


class Section(BaseModel):
    """Base of every spec model: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    def overlay(self, override: Section | None) -> Any:
        """This section with what `override` explicitly sets laid over it, recursively:
        a nested section applies only its own set fields, mappings merge key by key."""
        if override is None:
            return self
        update: dict[str, Any] = {}
        for key in override.model_fields_set:
            mine, theirs = getattr(self, key), getattr(override, key)
            if isinstance(mine, Section) and isinstance(theirs, Section):
                update[key] = mine.overlay(theirs)
            elif isinstance(mine, dict) and isinstance(theirs, dict):
                update[key] = deep_merge(mine, theirs)
            else:
                update[key] = theirs
        return self.model_copy(update=update)


ParamCount = Annotated[
    int,
    BeforeValidator(units.parse_count),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1},
                              {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[KMBGTkmbgt]?\s*$"}],
                    "description": "a parameter count: 1500000000, 1.5B or 350M"}),
]
TimeLimit = Annotated[str | int, Field(description="SLURM time limit, e.g. 12:00:00 or 2-00:00:00")]
Memory = Annotated[str | int, Field(description="memory per node, e.g. 64G (plain numbers are MB)")]
Precision = Literal["bf16", "fp16", "fp32"]
MAX_STEPS = 10**9
MAX_SEED = 2**32 - 1  # numpy's and CUDA's seeds are 32-bit
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class ModelSpec(Section):
    """The model a route starts from."""

    name_or_path: str = Field(min_length=1, description="hub id or local path")
    revision: str | None = None
    tokenizer: str | None = Field(None, description="defaults to name_or_path")
    num_parameters: ParamCount | None = Field(
        None, description="for memory estimates when there is no local config.json (e.g. 1.5B)"
    )
    dtype: Precision | Literal["auto"] = "auto"
    trust_remote_code: bool = False
    attn_implementation: str | None = None
    chat_template: str | None = Field(None, description="a template file or name; default: the model's")


DataFormat = Literal["jsonl", "json", "parquet", "arrow", "hf_disk"]


class DataFields(Section):
    """How a data file is read: its format and which fields hold what (shared by the
    spec's `data:` section and every dataset a task reads)."""

    format: DataFormat = "jsonl"
    prompt_field: str = "prompt"
    completion_field: str = "completion"
    image_field: str | None = None
    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    max_samples: int | None = Field(None, gt=0)


class DataSpec(DataFields):
    """Where the data lies and which fields hold what (JSONL/parquet/HF-on-disk)."""

    train: str | None = None
    validation: str | None = None
    test: str | None = None
    num_workers: int = Field(2, ge=0, le=256)


class TrainingSpec(Section):
    """Optimiser and schedule; batch sizes are global and per GPU, accumulation is derived."""

    optimizer: Literal["adamw", "adam", "sgd", "rmsprop", "adafactor", "lion"] = "adamw"
    lr: float = Field(1e-5, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["constant", "constant_with_warmup", "linear", "cosine"] = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    warmup_steps: int = Field(0, ge=0, le=MAX_STEPS)
    epochs: float = Field(1.0, gt=0, le=100_000)
    max_steps: int | None = Field(None, gt=0, le=MAX_STEPS, description="when set, wins over epochs (as in HF)")
    global_batch_size: int = Field(8, gt=0, le=2**24, description="sequences per optimizer step, all GPUs")
    micro_batch_size: int = Field(1, gt=0, le=65_536, description="sequences per GPU per forward pass")
    precision: Precision = "bf16"
    gradient_checkpointing: bool = False
    max_length: int = Field(2048, gt=0, le=2**22)
    max_grad_norm: float = Field(1.0, ge=0)
    logging_steps: int = Field(10, gt=0, le=MAX_STEPS)
    save_steps: int | None = Field(None, gt=0, le=MAX_STEPS, description="checkpoint every N steps (None: per epoch)")
    eval_steps: int | None = Field(None, gt=0, le=MAX_STEPS)
    stop_check_steps: int | None = Field(
        None, gt=0, le=MAX_STEPS, description="how often the ranks agree on stopping for SLURM's signal "
        "(one collective and device sync); None: about every 10 s of steps, from the measured step time")


class OffloadDevice(Section):
    """Where ZeRO puts offloaded state."""

    device: Literal["none", "cpu", "nvme"] = "none"
    nvme_path: str | None = None
    pin_memory: bool = True


class DeepSpeedSpec(Section):
    """ZeRO stage and offload; `config` is merged last into the derived DeepSpeed config."""

    enabled: bool = True
    zero_stage: Literal[0, 1, 2, 3] = 2
    offload_optimizer: OffloadDevice = Field(default_factory=OffloadDevice)
    offload_param: OffloadDevice = Field(default_factory=OffloadDevice)
    config: dict[str, JsonValue] = Field(default_factory=dict, description="passthrough, merged last")


class PeftSpec(Section):
    """LoRA through peft; off unless `enabled`."""

    enabled: bool = False
    r: int = Field(16, gt=0, le=65_536)
    alpha: int = Field(32, gt=0, le=2**20)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    modules_to_save: list[str] = Field(default_factory=list)


SBATCH_OWN = frozenset({  # options labspec sets itself: never through sbatch_extra
    "time", "t", "nodes", "n", "ntasks", "ntasks_per_node", "cpus_per_task", "c", "gpus_per_node", "gpus", "gres",
    "mem", "partition", "p", "account", "a", "qos", "q", "constraint", "dependency", "d", "array", "job_name", "j",
    "output", "o", "error", "e", "signal", "hold", "requeue", "open_mode", "chdir", "D"})


class ResourcesSpec(Section):
    """What one run asks SLURM for. A stage override sets only what differs."""

    nodes: int = Field(1, gt=0, le=4096)
    gpus_per_node: int = Field(1, ge=0, le=64, description="0 for a CPU-only job")
    procs_per_node: int | None = Field(
        None, gt=0, le=512, description="processes per node; default one per GPU (1 without GPUs)"
    )
    cpus_per_task: int = Field(8, gt=0, le=4096)
    mem: Memory | None = None
    time: TimeLimit | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    gpu_mem_gb: float | None = Field(None, gt=0, le=100_000, description="memory of one GPU, for estimates")
    sbatch_extra: dict[str, str | int] = Field(
        default_factory=dict, description="more sbatch options, e.g. {exclusive: ''}"
    )

    @field_validator("time")
    @classmethod
    def _time_parses(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            units.parse_time_minutes(v)
        return v

    @field_validator("mem")
    @classmethod
    def _mem_parses(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            units.parse_mem_mb(v)
        return v

    @field_validator("sbatch_extra")
    @classmethod
    def _extra_keys(cls, v: dict[str, str | int]) -> dict[str, str | int]:
        for key, value in v.items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]*", key):
                raise ValueError(f"sbatch option {key!r} must look like 'exclusive' or 'mail_type'")
            if key.replace("-", "_") in SBATCH_OWN:
                raise ValueError(f"sbatch option {key!r} is set by labspec from the spec's own fields "
                                 "(resources.time, nodes, ...); set it there, where its bounds are checked")
            _one_line(str(value), f"sbatch option {key}")
        return v

    @field_validator("partition", "account", "qos", "constraint")
    @classmethod
    def _single_line(cls, v: str | None) -> str | None:
        if v is not None:
            _one_line(v, "this value")
        return v

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs

    @property
    def procs(self) -> int:
        return self.procs_per_node or max(self.gpus_per_node, 1)

    @property
    def minutes(self) -> int:
        return units.parse_time_minutes(self.time) if self.time is not None else 0


class TensorBoardSpec(Section):
    enabled: bool = True
    log_every_n_steps: int = Field(10, gt=0, le=MAX_STEPS)
    log_hparams: bool = True


class SweepSpec(Section):
    """Grid points: the cartesian product of `grid`, times each `zip` group, times `seeds`."""

    grid: dict[str, list[JsonValue]] = Field(default_factory=dict, description="dotted.path: [values]")
    zip: list[dict[str, list[JsonValue]]] = Field(
        default_factory=list, description="groups of equal-length lists advanced together"
    )
    seeds: list[Seed] = Field(default_factory=list)
    max_points: int = Field(10_000, gt=0, le=1_000_000, description=(
        "refuse sweeps with more grid points than this (a typo in a grid can ask for millions of runs)"))

    def size(self) -> int:
        """How many grid points the sweep makes, counted without expanding it."""
        n = 1
        for values in self.grid.values():
            n *= len(values)
        for group in self.zip:
            n *= min((len(v) for v in group.values()), default=0)
        return n * max(len(self.seeds), 1)


Launcher = Literal["torchrun", "deepspeed", "python"]


def python_command(v: str | None) -> str | None:
    """An interpreter path or command name, never an option or an empty word."""
    if v is not None and (not v.strip() or v.startswith("-")):
        raise ValueError("python must be an interpreter path or command name, e.g. /opt/venv/bin/python")
    return v


class StageOverride(Section):
    """Per stage type: only the fields set here replace the experiment's."""

    resources: ResourcesSpec | None = None
    training: TrainingSpec | None = None
    deepspeed: DeepSpeedSpec | None = None
    launcher: Launcher | None = None
    python: str | None = Field(None, description=(
        "this stage type's interpreter (e.g. a vLLM environment, scripts/setup_vllm.sh); default: the experiment's"))
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("python")
    @classmethod
    def _python_is_a_command(cls, v: str | None) -> str | None:
        return python_command(v)


def _one_line(value: str, what: str) -> None:
    """#SBATCH lines end at a newline: a control character would start a shell line."""
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise ValueError(f"{what} must be one line without control characters")


def check_env(env: dict[str, str]) -> dict[str, str]:
    """Environment names must be shell identifiers; secrets never belong in a spec."""
    for key in env:
        if not ENV_NAME.fullmatch(key):
            raise ValueError(f"environment variable name {key!r} is not a valid shell name")
        if SECRET_NAME.search(key):
            raise ValueError(
                f"{key} looks like a secret: do not write it into a spec; export it in your "
                "shell and list its name under pass_env"
            )
    return env


# --- settings shared by several tasks (each route composes them) -------------------


# Closed sets of names: a misspelling is refused at validation, with a suggestion. Each
# runtime registry (evaluators, normalisers, extractors, prompt styles) holds exactly these
# (a test checks that they agree).
EvaluatorName = Literal["default", "formula", "mllm", "reasoning"]
Normalizer = Literal["none", "basic", "latex", "number"]
AnswerExtractor = Literal["none", "last_number", "boxed", "regex"]
PromptStyle = Literal["plain", "cot"]
RewardName = Literal["reasoning"]  # rule-checked rewards for GRPO
Metric = Literal["exact_match", "accuracy", "perplexity", "bleu", "edit_distance", "validity", "greedy_accuracy",
                 "majority_accuracy"]
EVALUATOR_METRICS: dict[str, tuple[str, ...]] = {
    "default": ("exact_match", "accuracy", "perplexity"),
    "formula": ("bleu", "edit_distance", "exact_match", "validity"),
    "mllm": ("exact_match",),
    "reasoning": ("greedy_accuracy", "majority_accuracy"),
}


class VLLMSettings(Section):
    """vLLM's engine for `backend: vllm`: how the model is split and how much memory it
    may take. Each field is passed to `vllm.LLM` (or lm-eval's `vllm` model) as named."""

    tensor_parallel_size: int = Field(1, gt=0, le=64, description="GPUs one model copy is split over")
    data_parallel_size: int = Field(1, gt=0, le=64, description=(
        "model copies, each on tensor_parallel_size GPUs, the prompts split between them"))
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="share of each GPU's memory vLLM may take")
    max_model_len: int | None = Field(None, gt=0, le=2**22, description="context length; default the model's own")
    enforce_eager: bool = Field(False, description="no CUDA graphs (slower; starts faster, less memory)")

    def gpus(self) -> int:
        return self.tensor_parallel_size * self.data_parallel_size


class GenerationSettings(Section):
    """Sampling for `generate` and generation-based evaluation."""

    max_new_tokens: int = Field(256, gt=0, le=2**20)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int | None = Field(None, gt=0)
    num_samples: int = Field(1, gt=0, le=10_000, description="samples per prompt")
    stop: list[str] = Field(default_factory=list, max_length=64, description="strings that end an answer")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description=(
        "per-request seeds (seed + the prompt's index), so an answer does not depend on its batch or "
        "shard; vllm only"))
    batch_size: int = Field(16, gt=0, le=65_536, description=(
        "prompts per batch (hf); prompts handed to the engine per call, answers written after each (vllm)"))
    backend: Literal["hf", "vllm"] = Field("hf", description=(
        "hf: transformers' generate, batched with a KV cache; vllm: vLLM's engine (PagedAttention, "
        "continuous batching, tensor parallel), in the stage's python (stages.<type>.python)"))
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)
    shards: int = Field(1, gt=0, le=10_000, description="array tasks the prompts are split over")

    @model_validator(mode="after")
    def _samples_need_sampling(self) -> GenerationSettings:
        if self.num_samples > 1 and self.temperature == 0:
            raise ValueError("num_samples > 1 needs sampling: set a temperature above 0 (e.g. 0.7)")
        if self.seed is not None and self.backend == "hf":
            raise ValueError("seed (per-request seeds) needs backend: vllm; transformers' batched generate "
                             "draws one stream per batch (remove seed, or set backend: vllm)")
        return self


DPOLoss = Literal["sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero",
                  "apo_down", "sft"]


class DPOSettings(Section):
    """Preference optimisation through TRL's DPOTrainer."""

    beta: float = Field(0.1, gt=0)
    loss_type: list[DPOLoss] = Field(default_factory=lambda: list[DPOLoss](["sigmoid"]))
    loss_weights: list[float] | None = None
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    max_prompt_length: int = Field(512, gt=0, le=2**22)
    reference: str | None = Field(
        None, description="reference model path; default: the model being trained, at its start"
    )

    @model_validator(mode="after")
    def _weights_match_losses(self) -> DPOSettings:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ValueError(f"loss_weights has {len(self.loss_weights)} values for {len(self.loss_type)} "
                             "loss_type entries; give one weight per loss")
        return self


GRPOLoss = Literal["grpo", "dr_grpo", "dapo", "bnpo"]


class GRPOSettings(Section):
    """RL with verifiable rewards through TRL's GRPOTrainer: each prompt is answered
    `group_size` times, a rule scores every answer, and each answer's advantage is its reward
    against its group's. The names follow TRL's GRPOConfig; the loss variants are how the
    token losses are summed (grpo: per sequence; dr_grpo: by a constant; dapo: over the
    global batch's tokens; bnpo: over the local batch's)."""

    group_size: int = Field(8, ge=2, le=1024, description=(
        "answers per prompt (TRL's num_generations); the global batch must be a multiple of it"))
    beta: float = Field(0.0, ge=0, description="KL coefficient against the starting model; 0 loads no reference")
    epsilon: float = Field(0.2, gt=0, lt=1, description="clip range of the probability ratio")
    epsilon_high: float | None = Field(None, gt=0, lt=10, description=(
        "upper clip (DAPO's clip-higher); default epsilon"))
    loss_type: GRPOLoss = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = Field("group", description=(
        "advantages divided by the group's reward std (GRPO), the batch's, or not at all (Dr. GRPO)"))
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the answers")
    max_completion_length: int = Field(256, gt=0, le=2**20)
    num_iterations: int = Field(1, ge=1, le=16, description="policy updates per batch of answers (TRL's mu)")
    mask_truncated_completions: bool = Field(False, description="no loss on answers cut at the length limit (DAPO)")
    backend: Literal["hf", "vllm"] = Field("hf", description=(
        "hf: transformers' generate inside the trainer; vllm: TRL's vLLM engine colocated in each training "
        "process (the stage's python must have vllm, trl and deepspeed)"))
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description=(
        "backend vllm: the share of each GPU vLLM may take"))


class EvaluationSettings(Section):
    """Held-out evaluation: generation metrics and/or likelihood metrics."""

    data: str | None = Field(None, description="held-out file; default: data.test")
    evaluator: EvaluatorName | None = Field(None, description="default: the route's own (else `default`)")
    metrics: list[Metric] = Field(default_factory=lambda: list[Metric](["exact_match"]), min_length=1)
    normalizer: Normalizer = "basic"
    answer_extractor: AnswerExtractor = "none"
    answer_regex: str | None = None
    generation: GenerationSettings = Field(default_factory=GenerationSettings)

    @field_validator("answer_regex")
    @classmethod
    def _regex_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return v
    max_samples: int | None = Field(None, gt=0)


class SFTSettings(Section):
    """Supervised fine-tuning through TRL's SFTTrainer."""

    completion_only_loss: bool = Field(True, description="loss on the answer tokens only")
    packing: bool = False
