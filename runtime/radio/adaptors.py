"""AM-RADIO adaptor heads: map the student's tokens into each teacher's space.

The student has one shared trunk; every teacher gets its own small MLP for the summary
token and one for the patch features, so teachers with different widths (and different
ideas of what a feature is) do not fight over the trunk's output directly. The heads are
only used for the loss; downstream the trunk (or one adaptor) is the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn


def mlp_head(in_dim: int, out_dim: int, hidden: int | None = None, blocks: int = 1) -> nn.Sequential:
    """Linear(in, hidden), `blocks` x [LayerNorm, GELU, Linear(hidden, hidden)], then LayerNorm, GELU,
    Linear(hidden, out); hidden defaults to max(in_dim, out_dim)."""
    hidden = hidden if hidden is not None else max(in_dim, out_dim)
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden)]
    for _ in range(blocks):
        layers += [nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, hidden)]
    layers += [nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, out_dim)]
    return nn.Sequential(*layers)


@dataclass
class TeacherShape:
    """What a teacher emits: a summary of summary_dim (None: no summary, e.g. SAM) and feature_dim features."""

    name: str
    summary_dim: int | None
    feature_dim: int


def _key(name: str) -> str:
    # module names cannot contain "." (teacher slugs may); ":" is not in the slug alphabet, so no collisions
    return name.replace(".", ":")


class Adaptors(nn.Module):
    def __init__(self, width: int, teachers: list[TeacherShape], hidden: int | None = None, blocks: int = 1):
        super().__init__()
        self.teachers = list(teachers)
        self.summary_heads = nn.ModuleDict({
            _key(t.name): mlp_head(width, t.summary_dim, hidden, blocks)
            for t in self.teachers if t.summary_dim is not None
        })
        self.feature_heads = nn.ModuleDict({
            _key(t.name): mlp_head(width, t.feature_dim, hidden, blocks) for t in self.teachers
        })

    def forward(self, summaries: dict[str, Tensor], features: Tensor) -> dict[str, tuple[Tensor | None, Tensor]]:
        """summaries {name: [B,width]}, features [B,width,h,w] -> per teacher:
        (adapted summary [B, summary_dim] or None, adapted features [B, feature_dim, h, w]).
        The feature head runs per token (channels last)."""
        tokens = features.permute(0, 2, 3, 1)  # [B, h, w, width]
        out: dict[str, tuple[Tensor | None, Tensor]] = {}
        for t in self.teachers:
            key = _key(t.name)
            summary = self.summary_heads[key](summaries[t.name]) if t.summary_dim is not None else None
            out[t.name] = (summary, self.feature_heads[key](tokens).permute(0, 3, 1, 2))
        return out
