"""The AM-RADIO student side in plain torch: student ViT, adaptor heads, losses, PHI-S."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from runtime.radio.adaptors import Adaptors, TeacherShape, mlp_head
from runtime.radio.losses import distillation_loss, feature_loss, resize_grid, summary_loss
from runtime.radio.phis import PhiS, hadamard
from runtime.radio.student import Student, StudentConfig, count_parameters


def tiny_student() -> Student:
    torch.manual_seed(0)
    config = StudentConfig(width=32, depth=2, heads=4, patch_size=8, resolution=32, registers=2,
                           summary_names=["clip", "dino.v2"])
    return Student(config).eval()


# -- student ---------------------------------------------------------------------------------------------------------


def test_student_output_shapes() -> None:
    student = tiny_student()
    summaries, features = student(torch.rand(2, 3, 32, 32))
    assert list(summaries) == ["clip", "dino.v2"]
    assert all(s.shape == (2, 32) for s in summaries.values())
    assert features.shape == (2, 32, 4, 4)  # registers and summaries dropped: exactly the 4x4 patch grid
    assert student.register_tokens.shape == (1, 2, 32)
    assert count_parameters(student) == sum(p.numel() for p in student.parameters()) > 0


def test_student_resizes_other_input_sizes() -> None:
    student = tiny_student()
    images = torch.rand(2, 3, 48, 40)
    with torch.no_grad():
        summaries, features = student(images)
        resized = F.interpolate(images, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
        expected_summaries, expected_features = student(resized)
    assert features.shape == (2, 32, 4, 4)
    torch.testing.assert_close(features, expected_features)
    torch.testing.assert_close(summaries["clip"], expected_summaries["clip"])


def test_student_save_load_round_trip(tmp_path: Path) -> None:
    student = tiny_student()
    student.save(tmp_path / "student")
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["model_type"] == "labspec-radio-student" and config["summary_names"] == ["clip", "dino.v2"]
    loaded = Student.load(tmp_path / "student").eval()
    assert loaded.config == student.config
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        (s1, f1), (s2, f2) = student(images), loaded(images)
    assert torch.equal(f1, f2) and all(torch.equal(s1[k], s2[k]) for k in s1)


def test_student_config_checks() -> None:
    with pytest.raises(ValueError, match="patch_size"):
        StudentConfig(width=32, depth=1, heads=4, patch_size=7, resolution=32, registers=0, summary_names=["a"])


# -- adaptors --------------------------------------------------------------------------------------------------------


def test_mlp_head_structure() -> None:
    head = mlp_head(8, 16, blocks=2)
    kinds = [type(m) for m in head]
    assert kinds == [nn.Linear] + [nn.LayerNorm, nn.GELU, nn.Linear] * 2 + [nn.LayerNorm, nn.GELU, nn.Linear]
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 16), (16, 16), (16, 16), (16, 16)]
    small = mlp_head(8, 4, hidden=5, blocks=0)
    assert [type(m) for m in small] == [nn.Linear, nn.LayerNorm, nn.GELU, nn.Linear]
    assert [(m.in_features, m.out_features) for m in small if isinstance(m, nn.Linear)] == [(8, 5), (5, 4)]


def test_adaptors_shapes_and_missing_summary() -> None:
    teachers = [TeacherShape("clip.l", 12, 20), TeacherShape("sam", None, 6)]
    adaptors = Adaptors(width=8, teachers=teachers, hidden=16)
    out = adaptors({"clip.l": torch.rand(2, 8)}, torch.rand(2, 8, 3, 3))
    summary, features = out["clip.l"]
    assert summary is not None and summary.shape == (2, 12)
    assert features.shape == (2, 20, 3, 3)
    assert out["sam"][0] is None and out["sam"][1].shape == (2, 6, 3, 3)


def test_adaptor_feature_head_runs_per_token() -> None:
    adaptors = Adaptors(width=4, teachers=[TeacherShape("t", None, 3)])
    features = torch.rand(1, 4, 2, 2)
    _, adapted = adaptors({}, features)["t"]
    head = adaptors.feature_heads["t"]
    torch.testing.assert_close(adapted[0, :, 1, 0], head(features[0, :, 1, 0]))


# -- losses ----------------------------------------------------------------------------------------------------------


def test_summary_loss_known_values() -> None:
    t = torch.tensor
    assert summary_loss(t([[1.0, 0.0]]), t([[0.0, 1.0]])).item() == pytest.approx(1.0)
    assert summary_loss(t([[1.0, 2.0]]), t([[2.0, 4.0]])).item() == pytest.approx(0.0, abs=1e-6)
    assert summary_loss(t([[1.0, 0.0]]), t([[1.0, 1.0]])).item() == pytest.approx(1 - 1 / math.sqrt(2))
    both = summary_loss(t([[1.0, 0.0], [1.0, 0.0]]), t([[0.0, 1.0], [3.0, 0.0]]))
    assert both.item() == pytest.approx(0.5)  # mean over the batch of 1 and 0


def test_feature_loss_by_hand() -> None:
    student = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    teacher = torch.tensor([0.5, 3.0]).view(1, 2, 1, 1)
    cos = 0.5 / math.sqrt(0.25 + 9.0)
    smooth_l1 = (0.5 * 0.5**2 + (3.0 - 0.5)) / 2  # d = 0.5 (quadratic), d = 3 (linear); mean over channels
    expected = 0.9 * (1 - cos) + 0.1 * smooth_l1
    assert feature_loss(student, teacher).item() == pytest.approx(expected)
    assert feature_loss(student, teacher, cos_weight=1.0, smooth_l1_weight=0.0).item() == pytest.approx(1 - cos)


def test_feature_loss_resizes_the_student_grid() -> None:
    vector = torch.tensor([0.3, -1.2, 2.0])
    student = vector.view(1, 3, 1, 1).expand(2, 3, 2, 2).clone()
    teacher = vector.view(1, 3, 1, 1).expand(2, 3, 4, 4).clone()
    assert resize_grid(student, (4, 4)).shape == (2, 3, 4, 4)
    torch.testing.assert_close(resize_grid(student, (4, 4)), teacher)
    assert feature_loss(student, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert feature_loss(student, teacher * 2).item() > 0


def test_resize_grid_identity_and_bilinear() -> None:
    x = torch.rand(1, 2, 3, 3)
    assert resize_grid(x, (3, 3)) is x
    row = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    # align_corners=False: output pixel centres map to -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    torch.testing.assert_close(resize_grid(row, (1, 4)), torch.tensor([0.0, 0.25, 0.75, 1.0]).view(1, 1, 1, 4))


def test_distillation_loss_weights_and_sum() -> None:
    s = torch.tensor([[1.0, 0.0]])
    f = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    adapted = {"clip": (s, f), "sam": (None, f)}
    targets = {"clip": (torch.tensor([[0.0, 1.0]]), torch.tensor([0.5, 3.0]).view(1, 2, 1, 1)),
               "sam": (None, torch.tensor([0.0, 2.0]).view(1, 2, 1, 1))}
    total, parts = distillation_loss(adapted, targets, {"clip": (2.0, 0.5), "sam": (7.0, 3.0)})
    clip, sam = parts["clip"], parts["sam"]
    assert clip.summary is not None and clip.summary.item() == pytest.approx(1.0)
    assert clip.features.item() == pytest.approx(feature_loss(f, targets["clip"][1]).item())
    assert clip.total.item() == pytest.approx(2.0 * 1.0 + 0.5 * clip.features.item())
    assert sam.summary is None
    assert sam.total.item() == pytest.approx(3.0 * sam.features.item())
    assert total.item() == pytest.approx(clip.total.item() + sam.total.item())


def test_distillation_loss_backpropagates() -> None:
    s = torch.rand(2, 4, requires_grad=True)
    f = torch.rand(2, 4, 2, 2, requires_grad=True)
    total, _ = distillation_loss({"t": (s, f)}, {"t": (torch.rand(2, 4), torch.rand(2, 4, 3, 3))}, {"t": (1.0, 1.0)})
    total.backward()  # type: ignore[no-untyped-call]
    assert s.grad is not None and f.grad is not None


# -- PHI-S -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 4, 8, 12, 20, 24, 40, 768])
def test_hadamard_is_orthogonal(n: int) -> None:
    h = hadamard(n)
    assert h.shape == (n, n)
    torch.testing.assert_close(h @ h.T, torch.eye(n, dtype=torch.float64))
    torch.testing.assert_close(h.abs(), torch.full((n, n), 1 / math.sqrt(n), dtype=torch.float64))


@pytest.mark.parametrize("n", [0, 3, 6, 10, 28])
def test_hadamard_unsupported_sizes(n: int) -> None:
    with pytest.raises(ValueError, match="supported"):
        hadamard(n)


def correlated_gaussian(n: int, c: int, seed: int) -> torch.Tensor:
    """Correlated data whose dimensions' standard deviations span two orders of magnitude, with an offset
    (magnitudes kept ~1 so that a float32 round trip can be held to atol 1e-5)."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(c, c, generator=g) / math.sqrt(c)
    scales = torch.logspace(-2, 0, c)
    offset = torch.randn(c, generator=g) * 0.5
    return (torch.randn(n, c, generator=g) @ mixing) * scales + offset


@pytest.mark.parametrize("c", [16, 12])
def test_phis_standardises(c: int) -> None:
    x = correlated_gaussian(4000, c, seed=c)
    assert x.var(dim=0).max() / x.var(dim=0).min() > 100  # very different scales going in
    phis = PhiS.fit(x)
    y = phis.apply(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    torch.testing.assert_close(y.mean(dim=0), torch.zeros(c), atol=0.05, rtol=0)
    torch.testing.assert_close(y.var(dim=0), torch.ones(c), atol=0.05, rtol=0)
    torch.testing.assert_close(phis.invert(y), x, atol=1e-5, rtol=0)
    x64 = x.double()
    torch.testing.assert_close(phis.invert(phis.apply(x64)), x64, atol=1e-12, rtol=0)


def test_phis_channels_first_and_state_dict() -> None:
    x = correlated_gaussian(500, 16, seed=1)
    phis = PhiS.fit(x)
    grid = x[:8].view(2, 2, 2, 16).permute(0, 3, 1, 2)  # [B, C, H, W]
    out = phis.apply_channels_first(grid)
    torch.testing.assert_close(out.permute(0, 2, 3, 1).reshape(8, 16), phis.apply(x[:8]))
    torch.testing.assert_close(phis.invert_channels_first(out), grid, atol=1e-5, rtol=0)
    again = PhiS.from_state_dict(phis.state_dict())
    assert torch.equal(again.apply(x), phis.apply(x))
    assert set(phis.state_dict()) == {"mean", "rotation", "alpha"}


def test_phis_rejects_unsupported_width() -> None:
    with pytest.raises(ValueError, match="supported"):
        PhiS.fit(torch.randn(100, 6))
