"""Kind `formula_dpo`: a vision-language model reads formula images into LaTeX; DPO on
its own mistakes (rejected = its wrong output, chosen = the gold LaTeX)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from specs.base import ExperimentBase
from specs.sections import DPOSettings, EvaluationSettings, Section, SFTSettings

DatasetFormat = Literal["synthetic", "im2latex", "im2latex_parquet", "unimer", "folder_jsonl"]


class SyntheticFormulas(Section):
    """Random formulas from a grammar, rendered offline with matplotlib's mathtext."""

    n_train: int = Field(2000, gt=0)
    n_test: int = Field(200, gt=0)
    seed: int = Field(0, ge=0)
    dpi: int = Field(100, gt=0)
    font_size: int = Field(14, gt=0)
    max_depth: int = Field(3, gt=0, le=8)


class FormulaDataset(Section):
    format: DatasetFormat = "synthetic"
    root: str | None = Field(None, description="data set directory (not for synthetic)")
    train_split: str = "train"
    test_split: str = "test"
    test_subsets: list[str] = Field(
        default_factory=list, description="UniMER-Test subsets, e.g. [SPE, CPE, SCE, HWE]"
    )
    synthetic: SyntheticFormulas | None = None
    max_train: int | None = Field(None, gt=0, description="a seeded subset of the training split (pilot runs)")
    max_test: int | None = Field(None, gt=0, description="a seeded subset of the test split (pilot runs)")


class MiningSettings(Section):
    """How preference pairs are mined from the SFT model's training-split predictions."""

    pairs_per_image: int = Field(1, gt=0)
    extra_samples: int = Field(0, ge=0, description="sample n more candidates to find mistakes")
    temperature: float = Field(0.8, ge=0)
    unparseable_first: bool = True
    rejected: Literal["any", "unparseable", "valid_wrong"] = Field(
        "any", description="which mistakes may be rejected answers: any, only those KaTeX cannot parse, "
        "or only valid-but-wrong ones (ablations)")
    max_images: int | None = Field(None, gt=0, description="evaluate only this many training images for mining")


class FormulaSection(Section):
    dataset: FormulaDataset = Field(default_factory=FormulaDataset)
    prompt: str = "Write the LaTeX for this formula."
    skip_sft: bool = Field(False, description="the model is already fine-tuned: start at evaluation")
    sft: SFTSettings = Field(default_factory=SFTSettings)
    mining: MiningSettings = Field(default_factory=MiningSettings)
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    evaluation: EvaluationSettings = Field(default_factory=lambda: EvaluationSettings(
        metrics=["bleu", "edit_distance", "exact_match", "validity"], normalizer="latex"))


class FormulaDPOExperiment(ExperimentBase):
    evaluations: ClassVar[dict[str, str | None]] = {"formula.evaluation": "formula"}
    stage_types: ClassVar[dict[str, bool]] = {
        "prepare": False,
        "sft": True,
        "evaluate": False,
        "mine": False,
        "dpo": True,
    }

    kind: Literal["formula_dpo"]
    formula: FormulaSection = Field(default_factory=FormulaSection)

    def kind_problems(self) -> Iterator[tuple[str, str]]:
        ds = self.formula.dataset
        if ds.format == "synthetic" and ds.root is not None:
            yield "formula.dataset.root", "synthetic data is generated; drop root or pick a real format"
        if ds.format != "synthetic" and ds.root is None:
            yield "formula.dataset.root", f"format {ds.format!r} reads from disk: set root to its directory"
        if ds.format != "synthetic" and ds.synthetic is not None:
            yield "formula.dataset.synthetic", "only used with format: synthetic"
        for cap in ("max_train", "max_test"):
            if ds.format == "synthetic" and getattr(ds, cap) is not None:
                yield f"formula.dataset.{cap}", "synthetic data is sized by synthetic.n_train / n_test"
        if ds.test_subsets and ds.format != "unimer":
            yield "formula.dataset.test_subsets", "test subsets exist only for format: unimer"
