"""The fields every experiment kind shares, and the stage vocabulary of a kind.

A kind subclasses `ExperimentBase`, fixes `kind` to its literal, adds its own section
(`spin:`, `formula:`, ...) and declares `stage_types`: the stage types it is made of,
which `stages:` may override and which of them train (those get a DeepSpeed config and
the batch-size checks).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field, field_validator

from specs.sections import (
    MAX_SEED,
    DataSpec,
    DeepSpeedSpec,
    GRPOSettings,
    Launcher,
    ModelSpec,
    PeftSpec,
    ResourcesSpec,
    Section,
    StageOverride,
    SweepSpec,
    TensorBoardSpec,
    TrainingSpec,
    check_env,
    python_command,
)

SLUG = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class ExperimentBase(Section):
    """Common top-level fields. Kinds add one section each."""

    # stage type -> does it train (DeepSpeed config, batch-size checks)?
    stage_types: ClassVar[dict[str, bool]] = {}
    # dotted path of each evaluation section -> the route's own evaluator (None: the
    # section's `evaluator`, else `default`, on data.test or its own data)
    evaluations: ClassVar[dict[str, str | None]] = {}

    name: str = Field(pattern=SLUG, description="slug: lowercase letters, digits, ., - and _")
    kind: str
    description: str = ""
    extends: str | None = Field(None, description="base spec path, deep-merged under this one")
    output_root: str = Field("runs", min_length=1, description="where run directories go")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    model: ModelSpec
    data: DataSpec = Field(default_factory=DataSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    deepspeed: DeepSpeedSpec = Field(default_factory=DeepSpeedSpec)
    peft: PeftSpec = Field(default_factory=PeftSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    launcher: Launcher = "torchrun"
    python: str | None = Field(
        None, description="interpreter on the nodes; default: the one running labspec"
    )
    env: dict[str, str] = Field(default_factory=dict, description="exported in the launch script")
    pass_env: list[str] = Field(
        default_factory=lambda: ["HF_TOKEN", "WANDB_API_KEY"],
        description="names taken from the submitting shell, never written to disk",
    )
    sweep: SweepSpec = Field(default_factory=SweepSpec)
    tensorboard: TensorBoardSpec = Field(default_factory=TensorBoardSpec)
    stages: dict[str, StageOverride] = Field(
        default_factory=dict, description="per stage type: resources/training/... overrides"
    )

    @field_validator("name")
    @classmethod
    def _not_a_rehearsal(cls, v: str) -> str:
        if v.endswith(".rehearsal"):
            raise ValueError(f"{v!r} ends in .rehearsal, the suffix of rehearsals (--rehearse) of an experiment "
                             f"named {v.removesuffix('.rehearsal')!r}; choose another name")
        return v

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        return check_env(v)

    @field_validator("python")
    @classmethod
    def _python_is_a_command(cls, v: str | None) -> str | None:
        return python_command(v)

    @field_validator("pass_env")
    @classmethod
    def _pass_env_names(cls, v: list[str]) -> list[str]:
        from specs.sections import ENV_NAME

        for name in v:
            if not ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return v

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, v: dict[str, StageOverride]) -> dict[str, StageOverride]:
        for key, override in v.items():
            if key not in cls.stage_types:
                from difflib import get_close_matches

                known = ", ".join(cls.stage_types) or "none"
                close = get_close_matches(key, cls.stage_types, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"unknown stage {key!r} (stages of this kind: {known}){hint}")
            check_env(override.env)
        return v

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        """Cross-field checks of the kind's own section, as (dotted path, message)."""
        return iter(())

    def grpo_settings(self) -> GRPOSettings | None:
        """The settings of the kind's `grpo` stage, if it has one (the batch rules check its
        group size against the stage's batch)."""
        return None

    # --- per-stage views, used by the rules and the compiler ------------------------

    def stage_resources(self, stage_type: str) -> ResourcesSpec:
        return self.resources.overlay(self._override(stage_type, "resources"))  # type: ignore[no-any-return]

    def stage_training(self, stage_type: str) -> TrainingSpec:
        return self.training.overlay(self._override(stage_type, "training"))  # type: ignore[no-any-return]

    def stage_deepspeed(self, stage_type: str) -> DeepSpeedSpec:
        return self.deepspeed.overlay(self._override(stage_type, "deepspeed"))  # type: ignore[no-any-return]

    def stage_launcher(self, stage_type: str) -> Launcher:
        ov = self.stages.get(stage_type)
        return ov.launcher if ov is not None and ov.launcher is not None else self.launcher

    def stage_python(self, stage_type: str) -> str | None:
        """The stage type's own interpreter (`stages.<type>.python`), if it names one: it wins over
        the experiment's and the command line's, being the more specific."""
        ov = self.stages.get(stage_type)
        return ov.python if ov is not None else None

    def stage_env(self, stage_type: str) -> dict[str, str]:
        ov = self.stages.get(stage_type)
        return {**self.env, **ov.env} if ov is not None else dict(self.env)

    def _override(self, stage_type: str, field: str) -> Section | None:
        ov = self.stages.get(stage_type)
        return getattr(ov, field) if ov is not None else None
