"""Frozen vision teachers for AM-RADIO-style distillation, loaded through transformers.

Each teacher sees the images the way it was trained to: at its own square input resolution and
with its own normalisation (the model folder's preprocessor_config.json, else the family's
published mean/std), so one [0, 1] image batch can be fed to every teacher and the student alike.
A teacher returns what the student is distilled towards: a summary vector (CLIP/SigLIP pooled
output, DINOv2's normed CLS token, ConvNeXt's pooled output; SAM and a bare backbone have none)
and a spatial feature grid [B, C, h, w]: the ViTs' patch tokens on their grid, SAM's neck, or
a convolutional stage's feature map (ConvNeXt's last stage by default, stride 32; any stages
of any model AutoBackbone loads, `out_features`), several maps resized to the first one's grid
and stacked.

Full checkpoints (a CLIPModel with its text tower, a SamModel with its mask decoder) load into the
vision class: transformers drops the other tower's weights, and a teacher that would be missing
weights is refused instead of running half random.

(The tiny random teachers of the tests are built by runtime.fixtures.teachers.)
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runtime.core import loaded
from runtime.core.errors import TaskInputError
from runtime.core.models import resolve_model
from runtime.radio.losses import resize_grid
from specs.kinds.radio import FEATURE_MAPS, MODEL_TYPES, NO_SUMMARY, TeacherFamily
from specs.kinds.radio import Teacher as TeacherSpec

FAMILIES: tuple[str, ...] = get_args(TeacherFamily)
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
DEFAULT_NORMALISATION: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "clip": ((0.4815, 0.4578, 0.4082), (0.2686, 0.2613, 0.2758)),
    "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "dinov2": IMAGENET,
    "sam": IMAGENET,
    "convnext": IMAGENET,
    "backbone": IMAGENET,
}
# weights a checkpoint may lack without changing what a frozen teacher means: DINOv2's mask token
# (unused here), and a backbone's per-output LayerNorms, which a base model's checkpoint has not
# and which start as plain normalisation (weight 1, bias 0)
HARMLESS_MISSING = ("mask_token", "hidden_states_norms.")


@dataclass
class Teacher:
    """A frozen teacher; call it on [0, 1] images of any size."""

    name: str
    family: str
    resolution: int
    has_summary: bool
    summary_dim: int | None
    feature_dim: int
    model: nn.Module
    mean: Tensor
    std: Tensor
    patch_size: int = 16
    prefix_tokens: int = 0  # tokens before the patch tokens: CLS (CLIP, DINOv2) and DINOv2 registers
    interpolate: bool = False  # pass interpolate_pos_encoding=True (resolution != the checkpoint's)
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    out_features: tuple[str, ...] = ()  # convnext/backbone: the stages whose maps are its features
    stage_indices: tuple[int, ...] = ()  # convnext: those stages' places in hidden_states

    @property
    def grid(self) -> int:
        """Feature grid side: resolution // patch_size."""
        return self.resolution // self.patch_size

    def __call__(self, images: Tensor) -> tuple[Tensor | None, Tensor]:
        """images [B,3,H,W] in [0,1], any size: resized (bilinear, antialias) to resolution x resolution,
        normalised, run under torch.no_grad in eval mode; returns (summary [B, summary_dim] or None,
        features [B, feature_dim, h, w], both float32)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"teacher {self.name}: expected images [B, 3, H, W], got {list(images.shape)}")
        param = next(self.model.parameters())
        x = images.to(device=param.device, dtype=torch.float32)
        size = (self.resolution, self.resolution)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        mean = self.mean.to(x.device).view(1, 3, 1, 1)
        std = self.std.to(x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        self.model.eval()
        kwargs = dict(self.forward_kwargs)
        if self.interpolate:
            kwargs["interpolate_pos_encoding"] = True
        with torch.no_grad():
            out = self.model(pixel_values=x.to(param.dtype), **kwargs)
        if self.family == "sam":
            return None, out.last_hidden_state.float().contiguous()
        if self.family in FEATURE_MAPS:
            return self._from_maps(out)
        tokens = out.last_hidden_state[:, self.prefix_tokens:]
        b, n, c = tokens.shape
        if n != self.grid * self.grid:
            raise RuntimeError(f"teacher {self.name}: {n} patch tokens, expected {self.grid}x{self.grid}")
        features = tokens.transpose(1, 2).reshape(b, c, self.grid, self.grid).float().contiguous()
        summary = out.pooler_output.float() if self.has_summary else None
        return summary, features

    def _from_maps(self, out: Any) -> tuple[Tensor | None, Tensor]:
        """A convolutional teacher's features: its stages' maps, on the first one's grid, stacked."""
        if self.family == "backbone":
            maps = list(out.feature_maps)
        elif self.stage_indices:
            maps = [out.hidden_states[i] for i in self.stage_indices]
        else:
            maps = [out.last_hidden_state]
        size = (int(maps[0].shape[-2]), int(maps[0].shape[-1]))
        features = torch.cat([resize_grid(m.float(), size) for m in maps], dim=1).contiguous()
        summary = out.pooler_output.float().flatten(1) if self.has_summary else None
        return summary, features


def _as_int(value: Any, what: str) -> int:
    """config image_size / patch_size: an int, or a square pair."""
    if isinstance(value, int):
        return value
    values = list(value)
    if len(values) != 2 or values[0] != values[1]:
        raise TaskInputError(f"{what}: only square sizes are supported, the checkpoint has {value}")
    return int(values[0])


def read_normalisation(path: str, family: str) -> tuple[list[float], list[float], str]:
    """(mean, std, source): image_mean/image_std of the folder's preprocessor_config.json (local, or
    in the hub cache for a hub id), else the family default."""
    from transformers.utils.hub import cached_file

    try:
        found = cached_file(path, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False,
                            _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        found = None
    if found:
        try:
            config = json.loads(Path(found).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TaskInputError(f"{found}: not readable JSON ({exc})") from None
        mean, std = config.get("image_mean"), config.get("image_std")
        if mean is not None and std is not None:
            if isinstance(mean, int | float):
                mean = [mean] * 3
            if isinstance(std, int | float):
                std = [std] * 3
            if len(mean) != 3 or len(std) != 3 or min(float(s) for s in std) <= 0:
                raise TaskInputError(f"{found}: image_mean/image_std must be 3 numbers each (std > 0), "
                                     f"got {mean} / {std}")
            return [float(m) for m in mean], [float(s) for s in std], str(found)
    default_mean, default_std = DEFAULT_NORMALISATION[family]
    return list(default_mean), list(default_std), f"{family} default"


@contextlib.contextmanager
def _quiet_load_report() -> Iterator[None]:
    """transformers logs a table of unused weights when a full checkpoint (CLIPModel with its text
    tower, SamModel with its mask decoder) loads into the vision class; that is expected here, and
    missing weights are checked after loading instead."""
    loggers = [logging.getLogger("transformers.modeling_utils"), logging.getLogger("transformers")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _dtype_for(device: str) -> torch.dtype:
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported(False):
        return torch.bfloat16
    return torch.float32


def load_teacher(spec: TeacherSpec | dict[str, Any], base_dir: str, device: str = "cpu") -> Teacher:
    """A frozen teacher from the spec's teacher entry (or the same as a dict, as an MLLM's saved
    encoder has it: {"name", "name_or_path", "family", "resolution", "summary"}; default: all
    families but SAM have a summary)."""
    import transformers

    if isinstance(spec, TeacherSpec):
        spec = {**spec.model_dump(), "has_summary": spec.has_summary}

    name = str(spec.get("name") or spec.get("family") or "teacher")
    what = f"radio.teachers[{name}]"
    family = spec.get("family")
    if family not in FAMILIES:
        raise TaskInputError(f"{what}.family: {family!r} is not one of {', '.join(FAMILIES)}")
    if not spec.get("name_or_path"):
        raise TaskInputError(f"{what}.name_or_path: missing")
    resolution = int(spec.get("resolution") or 224)
    has_summary = spec.get("has_summary", spec.get("summary"))
    has_summary = family not in NO_SUMMARY if has_summary is None else bool(has_summary)
    if family in NO_SUMMARY and has_summary:
        raise TaskInputError(f"{what}.summary: a {family} teacher has no summary; set summary: false (or leave it out)")
    out_features = tuple(spec.get("out_features") or ())
    if family == "backbone" and not out_features:
        raise TaskInputError(f"{what}.out_features: a backbone teacher names its stages, e.g. [stage4]")

    path = resolve_model(str(spec["name_or_path"]), base_dir, f"{what}.name_or_path")
    try:
        top = transformers.AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as exc:
        raise TaskInputError(f"{what}.name_or_path: {path} has no readable model config ({exc})") from None
    model_type = getattr(top, "model_type", None)
    stages = list(getattr(top, "stage_names", None) or [])
    unknown = [f for f in out_features if f not in stages]
    if family == "backbone":
        if not stages:
            raise TaskInputError(f"{what}.name_or_path: {path} is a {model_type!r} model with neither a feature map "
                                 "nor patch tokens that AutoBackbone can give (its config names no stages)")
        cls = _backbone_class(top, f"{what}.name_or_path: {path}")
        load_kwargs: dict[str, Any] = {"out_features": list(out_features)}
    else:
        classes = MODEL_TYPES[family]
        if model_type not in classes:
            raise TaskInputError(f"{what}: {path} is a {model_type!r} model, not {family} (expected model_type "
                                 f"{' or '.join(map(repr, classes))}); fix family or name_or_path")
        cls = getattr(transformers, classes[model_type])
        load_kwargs = {}
    if unknown:
        raise TaskInputError(f"{what}.out_features: {path} has no stage {unknown[0]!r}; its stages are "
                             f"{', '.join(stages)}")

    from safetensors import SafetensorError

    dtype = _dtype_for(device)
    try:
        with _quiet_load_report():
            model, info = cls.from_pretrained(path, dtype=dtype, output_loading_info=True, **load_kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, SafetensorError) as exc:
        raise TaskInputError(f"{what}.name_or_path: {path} does not load as {cls.__name__} ({exc})") from None
    missing = sorted(k for k in info.get("missing_keys", ()) if not any(h in k for h in HARMLESS_MISSING))
    if missing:
        raise TaskInputError(f"{what}.name_or_path: {path} lacks {len(missing)} weights of {cls.__name__} "
                             f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}): it is incomplete or "
                             f"not a {family} vision checkpoint")
    model = model.to(device).eval()
    model.requires_grad_(False)
    config = model.config
    mean, std, source = read_normalisation(path, family)
    loaded.record(f"teacher/{name}", model, normalisation=source)
    if family in FEATURE_MAPS:
        return _convolutional(name, family, resolution, has_summary, model, out_features, stages, mean, std, device)

    image_size = _as_int(config.image_size, f"{what}: image_size")
    patch = _as_int(config.patch_size, f"{what}: patch_size")
    if resolution % patch:
        raise TaskInputError(f"{what}.resolution: {resolution} is not a multiple of the patch size {patch}")
    interpolate = False
    prefix = 0
    summary_dim: int | None = None
    if family == "sam":
        if resolution != image_size:
            raise TaskInputError(f"{what}.resolution: {resolution}, but SAM's position embeddings are fixed to "
                                 f"{image_size}x{image_size} ({path}); set resolution: {image_size}")
        feature_dim = int(config.output_channels)
    else:
        feature_dim = int(config.hidden_size)
        summary_dim = feature_dim if has_summary else None
        if family in ("clip", "siglip"):
            interpolate = resolution != image_size  # CLIP/SigLIP refuse other sizes unless asked
        # DINOv2 always interpolates its position embeddings to the input size
        if family == "clip":
            prefix = 1
        elif family == "dinov2":
            prefix = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        if family == "siglip" and has_summary and not getattr(config, "vision_use_head", True):
            raise TaskInputError(f"{what}.summary: {path} has no pooling head (vision_use_head: false), so no "
                                 "summary; set summary: false")

    return Teacher(name=name, family=family, resolution=resolution, has_summary=has_summary,
                   summary_dim=summary_dim, feature_dim=feature_dim, model=model,
                   mean=torch.tensor(mean, dtype=torch.float32, device=device),
                   std=torch.tensor(std, dtype=torch.float32, device=device),
                   patch_size=patch, prefix_tokens=prefix, interpolate=interpolate)


def _backbone_class(config: Any, what: str) -> Any:
    """The transformers backbone class of a config, as AutoBackbone would pick it. Not through
    AutoBackbone.from_pretrained: transformers 5.24 asks the hub whether the path exists
    first, so a local folder (or any path offline) goes to timm instead."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING

    try:
        return MODEL_FOR_BACKBONE_MAPPING[type(config)]
    except KeyError:
        raise TaskInputError(f"{what} is a {getattr(config, 'model_type', None)!r} model that transformers has no "
                             "backbone class for (AutoBackbone cannot load it)") from None


def _convolutional(name: str, family: str, resolution: int, has_summary: bool, model: nn.Module,
                   out_features: tuple[str, ...], stages: list[str], mean: list[float], std: list[float],
                   device: str) -> Teacher:
    """A ConvNeXt (its last stage's map, or the named stages' through its hidden states) or an
    AutoBackbone teacher (the named stages' maps): feature width = the maps' channels summed,
    the grid = the first map's (resolution / its stride)."""
    config: Any = model.config
    if family == "backbone":
        channels = [int(c) for c in getattr(model, "channels")]  # noqa: B009 (BackboneMixin's, not nn.Module's)
        indices: tuple[int, ...] = ()
    else:
        widths = [int(config.hidden_sizes[0]), *(int(h) for h in config.hidden_sizes)]  # stem, stage1, ...
        chosen = out_features or (stages[-1],)
        indices = tuple(stages.index(f) for f in chosen) if out_features else ()
        channels = [widths[stages.index(f)] for f in chosen]
        out_features = chosen
    forward = {"output_hidden_states": True} if indices else {}
    summary_dim = int(config.hidden_sizes[-1]) if has_summary else None
    return Teacher(name=name, family=family, resolution=resolution, has_summary=has_summary, summary_dim=summary_dim,
                   feature_dim=sum(channels), model=model,
                   mean=torch.tensor(mean, dtype=torch.float32, device=device),
                   std=torch.tensor(std, dtype=torch.float32, device=device),
                   patch_size=1, forward_kwargs=forward, out_features=out_features, stage_indices=indices)
