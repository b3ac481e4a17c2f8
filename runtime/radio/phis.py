"""PHI-S: PCA-Hadamard isotropic standardisation of teacher distributions.

Ranzinger et al., "PHI-S: Distribution Balancing for Label-Free Multi-Teacher
Distillation" (2024). Teachers' features live at very different scales (a SAM feature
and a CLIP feature differ by orders of magnitude), so with a plain sum of losses the
largest teacher dominates. PHI-S maps each teacher's features by

    y = alpha * H @ U^T @ (x - mu)

mu the mean, U the PCA basis (eigenvectors of the covariance, from a calibration pass),
H a normalised Hadamard matrix and alpha = 1 / sqrt(mean eigenvalue). U^T decorrelates;
H (orthogonal, every entry +-1/sqrt(C)) spreads the variance evenly, so every output
dimension has variance trace / C before alpha and exactly 1 after. It is an invertible
rotation plus one scalar, so the student's predictions map back to the teacher's space.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SUPPORTED = "2^k, 12 * 2^k or 20 * 2^k (e.g. 256, 768, 1024, 1280)"


def _paley(q: int) -> Tensor:
    """Paley construction I: a Hadamard matrix of order q + 1 for a prime q = 3 (mod 4)."""
    residues = {(i * i) % q for i in range(1, q)}

    def chi(a: int) -> int:
        a %= q
        return 0 if a == 0 else (1 if a in residues else -1)

    jacobsthal = torch.tensor([[chi(j - i) for j in range(q)] for i in range(q)], dtype=torch.float64)
    skew = torch.zeros(q + 1, q + 1, dtype=torch.float64)
    skew[0, 1:] = 1
    skew[1:, 0] = -1
    skew[1:, 1:] = jacobsthal
    return torch.eye(q + 1, dtype=torch.float64) + skew


def hadamard(n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The normalised (orthogonal, entries +-1/sqrt(n)) Hadamard matrix of order n:
    Sylvester for 2^k, Kronecker products with Paley's H12 / H20 for 12 * 2^k and 20 * 2^k."""
    if n < 1:
        raise ValueError(f"no Hadamard matrix of order {n}; supported: {SUPPORTED}")
    odd, power = n, 0
    while odd % 2 == 0:
        odd, power = odd // 2, power + 1
    if odd == 1:
        matrix = torch.ones(1, 1, dtype=torch.float64)
    elif odd in (3, 5) and power >= 2:  # 12 * 2^(power-2), 20 * 2^(power-2)
        matrix, power = _paley(4 * odd - 1), power - 2
    else:
        raise ValueError(f"no Hadamard matrix of order {n} here; supported: {SUPPORTED}")
    h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    for _ in range(power):
        matrix = torch.kron(matrix, h2)
    return (matrix / math.sqrt(n)).to(dtype)


class PhiS:
    """y = alpha * (x - mean) @ rotation^T with rotation = H @ U^T (orthogonal); x [..., C]."""

    def __init__(self, mean: Tensor, rotation: Tensor, alpha: float):
        self.mean = mean.to(torch.float64)
        self.rotation = rotation.to(torch.float64)
        self.alpha = float(alpha)
        self._cast: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    @classmethod
    def fit(cls, features: Tensor) -> PhiS:
        """features [N, C] from a calibration pass; the eigendecomposition runs in float64."""
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"PHI-S needs calibration features [N >= 2, C], got {tuple(features.shape)}")
        x = features.detach().to(torch.float64)
        mean = x.mean(dim=0)
        centred = x - mean
        covariance = centred.T @ centred / (x.shape[0] - 1)
        eigenvalues, basis = torch.linalg.eigh(covariance)  # covariance = U diag(eigenvalues) U^T
        mean_eigenvalue = float(eigenvalues.clamp(min=0).mean())
        if mean_eigenvalue <= 0:
            raise ValueError("PHI-S calibration features have zero variance")
        rotation = hadamard(x.shape[1]) @ basis.T
        return cls(mean.cpu(), rotation.cpu(), 1.0 / math.sqrt(mean_eigenvalue))

    def _params(self, like: Tensor) -> tuple[Tensor, Tensor, torch.dtype]:
        """mean and rotation on like's device, in like's dtype but at least float32 (cached: called every step)."""
        dtype = torch.promote_types(like.dtype, torch.float32)
        key = (like.device, dtype)
        if key not in self._cast:
            self._cast[key] = (self.mean.to(like.device, dtype), self.rotation.to(like.device, dtype))
        return (*self._cast[key], dtype)

    def apply(self, x: Tensor) -> Tensor:
        """x [..., C] -> standardised [..., C], in x's dtype."""
        mean, rotation, dtype = self._params(x)
        return (self.alpha * ((x.to(dtype) - mean) @ rotation.T)).to(x.dtype)

    def invert(self, y: Tensor) -> Tensor:
        """standardised [..., C] -> the teacher's space [..., C], in y's dtype."""
        mean, rotation, dtype = self._params(y)
        return ((y.to(dtype) / self.alpha) @ rotation + mean).to(y.dtype)

    def apply_channels_first(self, x: Tensor) -> Tensor:
        """[B,C,H,W] -> standardised [B,C,H,W]."""
        return self.apply(x.movedim(1, -1)).movedim(-1, 1)

    def invert_channels_first(self, y: Tensor) -> Tensor:
        return self.invert(y.movedim(1, -1)).movedim(-1, 1)

    def state_dict(self) -> dict[str, Tensor]:
        return {"mean": self.mean, "rotation": self.rotation, "alpha": torch.tensor(self.alpha, dtype=torch.float64)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> PhiS:
        return cls(state["mean"], state["rotation"], float(state["alpha"]))
