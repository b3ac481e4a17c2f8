"""Convolutional teachers: ConvNeXt (its last stage's map and pooled output, or a chosen
stage), any AutoBackbone model, and everything downstream of a teacher with them: the
adaptor resizing to their grid, PHI-S on their features, the teacher cache; refused at
validation when the model has no feature map or tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from runtime.core.errors import TaskInputError
from runtime.fixtures.teachers import build_tiny_teachers
from runtime.radio.adaptors import Adaptors, TeacherShape
from runtime.radio.cache import TeacherCache, hash_image_list, teacher_meta
from runtime.radio.losses import distillation_loss, resize_grid
from runtime.radio.phis import PhiS
from runtime.radio.teachers import IMAGENET, load_teacher
from specs import load_spec
from specs.errors import LabspecError
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def convnext(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_teachers(tmp_path_factory.mktemp("teachers"))["convnext"]


def entry(path: Path, **kw: object) -> dict[str, object]:
    return {"name": "cx", "name_or_path": str(path), "family": "convnext", "resolution": 64, **kw}


def test_convnext_gives_its_last_stage_map_and_pooled_summary(convnext: Path) -> None:
    teacher = load_teacher(entry(convnext), base_dir="/")
    assert not teacher.model.training and not any(p.requires_grad for p in teacher.model.parameters())
    assert (teacher.feature_dim, teacher.summary_dim, teacher.out_features) == (32, 32, ("stage4",))
    images = torch.rand(3, 3, 50, 70)  # any size: resized to 64 x 64 inside
    summary, features = teacher(images)
    assert features.shape == (3, 32, 2, 2) and features.dtype == torch.float32  # stride 32: 64 / 32
    assert summary is not None and summary.shape == (3, 32)
    resized = F.interpolate(images, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    x = (resized - torch.tensor(IMAGENET[0]).view(1, 3, 1, 1)) / torch.tensor(IMAGENET[1]).view(1, 3, 1, 1)
    with torch.no_grad():
        out = teacher.model(pixel_values=x)
    torch.testing.assert_close(features, out.last_hidden_state)  # the map itself, no class token to strip
    torch.testing.assert_close(summary, out.pooler_output)  # the pooled, normed output
    assert features.std() > 0.05  # every stage was initialised: a zero norm would flatten it


def test_a_finer_stage_and_several_stages_stacked(convnext: Path) -> None:
    stage3 = load_teacher(entry(convnext, out_features=["stage3"]), base_dir="/")
    _, features = stage3(torch.rand(2, 3, 64, 64))
    assert features.shape == (2, 24, 4, 4) and stage3.feature_dim == 24  # stride 16
    both = load_teacher(entry(convnext, out_features=["stage3", "stage4"]), base_dir="/")
    images = torch.rand(2, 3, 64, 64)
    _, stacked = both(images)
    assert stacked.shape == (2, 24 + 32, 4, 4) and both.feature_dim == 56
    last = load_teacher(entry(convnext), base_dir="/")
    torch.testing.assert_close(stacked[:, 24:], resize_grid(last(images)[1], (4, 4)))  # stage 4, on stage 3's grid


def test_any_autobackbone_model_by_its_stages(convnext: Path) -> None:
    teacher = load_teacher(entry(convnext, family="backbone", out_features=["stage2"]), base_dir="/")
    summary, features = teacher(torch.rand(2, 3, 64, 64))
    assert summary is None and not teacher.has_summary and features.shape == (2, 16, 8, 8)  # stride 8
    with pytest.raises(TaskInputError, match="has no stage 'stage9'; its stages are stem, stage1"):
        load_teacher(entry(convnext, family="backbone", out_features=["stage9"]), base_dir="/")
    with pytest.raises(TaskInputError, match="backbone teacher names its stages"):
        load_teacher(entry(convnext, family="backbone"), base_dir="/")


def test_the_adaptor_resizes_the_student_grid_to_a_non_square_teacher_grid() -> None:
    adaptors = Adaptors(16, [TeacherShape("cx", 12, 24)])
    summaries, student_grid = {"cx": torch.randn(2, 16)}, torch.randn(2, 16, 4, 4, requires_grad=True)
    adapted = adaptors(summaries, student_grid)
    assert adapted["cx"][1].shape == (2, 24, 4, 4)
    target = (torch.randn(2, 12), torch.randn(2, 24, 3, 5))  # e.g. a feature map of a non-square input
    total, parts = distillation_loss(adapted, {"cx": target}, {"cx": (1.0, 1.0)})
    assert resize_grid(adapted["cx"][1], (3, 5)).shape == (2, 24, 3, 5)
    total.backward()
    assert student_grid.grad is not None and parts["cx"].summary is not None


def test_phi_s_fits_convnext_features(convnext: Path) -> None:
    teacher = load_teacher(entry(convnext, out_features=["stage3"]), base_dir="/")
    _, features = teacher(torch.rand(16, 3, 64, 64))
    tokens = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])  # [N tokens, 24]
    phis = PhiS.fit(tokens)
    standard = phis.apply(tokens).double()
    assert standard.mean(dim=0).abs().max() < 1e-4
    variances = standard.var(dim=0)
    assert variances.mean() == pytest.approx(1.0, rel=1e-3)  # PHI-S: the same variance in every direction
    assert variances.max() / variances.min() < 1.05


def test_cache_round_trip_of_convnext_outputs(convnext: Path, tmp_path: Path) -> None:
    teacher = load_teacher(entry(convnext, out_features=["stage3"]), base_dir="/")
    images = torch.rand(5, 3, 64, 64)
    outputs = {"cx": teacher(images)}
    meta = teacher_meta([teacher])
    assert meta == {"cx": {"family": "convnext", "resolution": 64, "summary_dim": 32, "feature_dim": 24,
                           "out_features": ["stage3"]}}
    cache = TeacherCache(tmp_path / "cache", ["cx"], hash_image_list([f"{i}.png" for i in range(5)]), meta=meta)
    cache.write(0, outputs)
    cache.finish()
    got = cache.read([4, 0, 2])["cx"]
    assert got[0] is not None
    torch.testing.assert_close(got[0], outputs["cx"][0][[4, 0, 2]], rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(got[1], outputs["cx"][1][[4, 0, 2]], rtol=1e-3, atol=1e-3)
    other = teacher_meta([load_teacher(entry(convnext), base_dir="/")])  # another stage: not this cache
    with pytest.raises(TaskInputError, match="does not belong to this run"):
        TeacherCache(tmp_path / "cache", ["cx"], hash_image_list([f"{i}.png" for i in range(5)]), meta=other).complete()


def radio_with(teacher: str) -> list[str]:
    return [f"radio.teachers=[{{name: clip, name_or_path: openai/clip-vit-base-patch16, family: clip}}, {teacher}]"]


def test_a_teacher_without_feature_maps_or_tokens_is_refused_at_validation(tmp_path: Path) -> None:
    text = tmp_path / "tiny-lm"
    text.mkdir()
    (text / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}))
    with pytest.raises(LabspecError, match=f"{text} is a 'qwen2' model with neither a feature map nor patch tokens"):
        load_spec(EXAMPLES / "radio.yaml", radio_with(f"{{name: t, name_or_path: {text}, family: backbone, "
                                                      "out_features: [stage4]}"))
    with pytest.raises(LabspecError, match=f"{text} is a 'qwen2' model, not convnext"):
        load_spec(EXAMPLES / "radio.yaml", radio_with(f"{{name: t, name_or_path: {text}, family: convnext}}"))
    with pytest.raises(LabspecError, match="a backbone teacher names the stages"):
        load_spec(EXAMPLES / "radio.yaml", radio_with("{name: t, name_or_path: some/hub-id, family: backbone}"))
    with pytest.raises(LabspecError, match="features are its patch tokens: drop out_features"):
        load_spec(EXAMPLES / "radio.yaml", radio_with("{name: t, name_or_path: x/y, family: dinov2, "
                                                      "out_features: [stage4]}"))


def test_convnext_stages_are_checked_against_a_local_config(convnext: Path) -> None:
    with pytest.raises(LabspecError, match="has no stage 'stage7'; its stages are stem, stage1, stage2"):
        load_spec(EXAMPLES / "radio.yaml", radio_with(f"{{name: t, name_or_path: {convnext}, family: convnext, "
                                                      "out_features: [stage7]}"))
    loaded = load_spec(EXAMPLES / "radio_convnext.yaml")
    assert [t.family for t in loaded.experiment.radio.teachers] == ["clip", "dinov2", "convnext"]  # type: ignore[attr-defined]
