"""The student ViT that several teachers are distilled into (AM-RADIO).

A plain ViT in torch, not a hub model: the distillation owns its shape (one summary token
per teacher that has one, register tokens, any resolution in), and a checkpoint is two
files (config.json + model.safetensors) that load without transformers. Images come in as
[0, 1] tensors of any size; resizing and normalisation happen inside, so every caller
(distillation, kNN probe, the MLLM stage) feeds the encoder the same way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

MODEL_TYPE = "labspec-radio-student"


@dataclass
class StudentConfig:
    width: int
    depth: int
    heads: int
    patch_size: int
    resolution: int
    registers: int
    summary_names: list[str]  # one summary (CLS) token per teacher that has one, in this order
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        if self.resolution % self.patch_size:
            raise ValueError(f"resolution {self.resolution} is not a multiple of patch_size {self.patch_size}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if len(set(self.summary_names)) != len(self.summary_names):
            raise ValueError(f"summary_names has duplicates: {self.summary_names}")

    @property
    def grid(self) -> int:
        return self.resolution // self.patch_size


class Student(nn.Module):
    """ViT: conv patch embedding, learned position embeddings for the patch grid,
    len(summary_names) summary tokens + `registers` register tokens prepended,
    pre-norm transformer blocks, final LayerNorm."""

    pixel_mean: Tensor
    pixel_std: Tensor

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        width, n_summary = config.width, len(config.summary_names)
        self.patch_embed = nn.Conv2d(3, width, kernel_size=config.patch_size, stride=config.patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, config.grid * config.grid, width))
        self.summary_tokens = nn.Parameter(torch.zeros(1, n_summary, width))
        self.register_tokens = nn.Parameter(torch.zeros(1, config.registers, width))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, config.heads, dim_feedforward=4 * width, dropout=0.0,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(width)
        # constants from the config, not learned: kept out of the state dict
        self.register_buffer("pixel_mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)
        for p in (self.pos_embed, self.summary_tokens, self.register_tokens):
            nn.init.trunc_normal_(p, std=0.02)

    def forward(self, images: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """images [B,3,H,W] in [0,1] -> ({teacher name: summary [B,width]}, patch features [B,width,h,w])."""
        cfg = self.config
        size = (cfg.resolution, cfg.resolution)
        if tuple(images.shape[-2:]) != size:
            images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
        x = (images - self.pixel_mean) / self.pixel_std
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed  # [B, h*w, width]
        batch = x.shape[0]
        prefix = torch.cat([self.summary_tokens, self.register_tokens], dim=1).expand(batch, -1, -1)
        x = torch.cat([prefix, x], dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        n_summary = len(cfg.summary_names)
        summaries = {name: x[:, i] for i, name in enumerate(cfg.summary_names)}
        patches = x[:, n_summary + cfg.registers:]  # register tokens dropped
        features = patches.transpose(1, 2).reshape(batch, cfg.width, cfg.grid, cfg.grid)
        return summaries, features

    def save(self, path: Path) -> None:
        """Write path/config.json and path/model.safetensors."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {"model_type": MODEL_TYPE, **dataclasses.asdict(self.config)}
        (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(path / "model.safetensors"))

    @classmethod
    def load(cls, path: Path) -> Student:
        path = Path(path)
        config: dict[str, Any] = json.loads((path / "config.json").read_text(encoding="utf-8"))
        model_type = config.pop("model_type", None)
        if model_type != MODEL_TYPE:
            raise ValueError(f"{path}: model_type is {model_type!r}, not {MODEL_TYPE!r}")
        config["mean"] = tuple(config["mean"])
        config["std"] = tuple(config["std"])
        model = cls(StudentConfig(**config))
        model.load_state_dict(load_file(str(path / "model.safetensors")))
        return model


def count_parameters(module: nn.Module) -> int:
    """All parameters, trainable or not."""
    return sum(p.numel() for p in module.parameters())
