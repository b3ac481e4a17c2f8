"""AM-RADIO distillation losses: cosine on summaries, cosine + smooth-L1 on feature grids.

Teachers see the image at their own resolution and patch size, so their feature grids
differ from the student's; the student grid is resized (bilinear) to each teacher's grid
before comparing token by token. Cosine carries the direction of a feature (what it
means); a small smooth-L1 term keeps the magnitudes honest (AM-RADIO uses 0.9 / 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def resize_grid(features: Tensor, size: tuple[int, int]) -> Tensor:
    """[B,C,h,w] -> [B,C,H,W], bilinear, align_corners=False (returned as is when the size already matches)."""
    if tuple(features.shape[-2:]) == tuple(size):
        return features
    return F.interpolate(features, size=size, mode="bilinear", align_corners=False)


def summary_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """[B,C] vs [B,C]: mean over the batch of (1 - cosine similarity)."""
    return (1 - F.cosine_similarity(student, teacher.to(student.dtype), dim=-1)).mean()


def feature_loss(student: Tensor, teacher: Tensor, cos_weight: float = 0.9, smooth_l1_weight: float = 0.1) -> Tensor:
    """[B,C,h,w] vs [B,C,H,W]: the student grid is resized to the teacher's, then per token
    cos_weight * (1 - cos) + smooth_l1_weight * smooth-L1 (beta 1, mean over channels); mean over tokens and batch."""
    teacher = teacher.to(student.dtype)
    student = resize_grid(student, (teacher.shape[-2], teacher.shape[-1]))
    cos = 1 - F.cosine_similarity(student, teacher, dim=1)  # [B,H,W]
    l1 = F.smooth_l1_loss(student, teacher, reduction="none", beta=1.0).mean(dim=1)  # [B,H,W]
    return (cos_weight * cos + smooth_l1_weight * l1).mean()


@dataclass
class TeacherLoss:
    summary: Tensor | None  # None when the teacher (or the student's adaptor) has no summary
    features: Tensor
    total: Tensor  # summary_weight * summary + feature_weight * features


def distillation_loss(
    adapted: dict[str, tuple[Tensor | None, Tensor]],
    targets: dict[str, tuple[Tensor | None, Tensor]],
    weights: dict[str, tuple[float, float]],
) -> tuple[Tensor, dict[str, TeacherLoss]]:
    """adapted / targets: name -> (summary [B,C] or None, features [B,C,h,w]); weights: name ->
    (summary_weight, feature_weight). Returns (sum over teachers of their totals, per-teacher losses)."""
    if not adapted:
        raise ValueError("no teachers to distil from")
    if set(adapted) != set(targets):
        raise ValueError(f"adapted teachers {sorted(adapted)} != target teachers {sorted(targets)}")
    parts: dict[str, TeacherLoss] = {}
    for name, (student_summary, student_features) in adapted.items():
        teacher_summary, teacher_features = targets[name]
        summary_weight, feature_weight = weights[name]
        features = feature_loss(student_features, teacher_features)
        total = feature_weight * features
        summary = None
        if student_summary is not None and teacher_summary is not None:
            summary = summary_loss(student_summary, teacher_summary)
            total = total + summary_weight * summary
        parts[name] = TeacherLoss(summary=summary, features=features, total=total)
    return torch.stack([p.total for p in parts.values()]).sum(), parts
