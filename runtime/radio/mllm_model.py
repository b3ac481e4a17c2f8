"""A LLaVA-style model over any of the route's vision encoders: encoder (frozen) -> projector
(linear, or LLaVA-1.5's 2-layer MLP) -> causal LM.

The encoder is a teacher, the distilled student, or several teachers whose feature maps are
resized to one grid and concatenated along channels. It stays outside the module's
parameters (frozen, never saved with the model: it is rebuilt from its own source), so the
trainer and DeepSpeed see only the projector and the LM. Image tokens are a prefix of the
text; batches are padded on the left for generation, on the right for training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from runtime.radio.losses import resize_grid
from specs.tasks.radio import EncoderChoice

MODEL_TYPE = "labspec-mllm"


class Encoder:
    """Frozen image -> token features [B, N, C] for one encoder variant."""

    def __init__(self, choice: EncoderChoice | dict[str, Any], base_dir: str) -> None:
        from runtime.core.environment import device
        from runtime.radio.teachers import load_teacher

        spec = choice.model_dump(mode="json") if isinstance(choice, EncoderChoice) else choice
        self.spec = spec  # saved with the model: the encoder is rebuilt from it
        kind = spec["type"]
        if kind == "student":
            from runtime.core.models import resolve_model
            from runtime.radio.student import Student

            self.student: Student | None = Student.load(Path(resolve_model(str(spec["path"]), base_dir, "encoder")))
            self.student.eval().requires_grad_(False)
            self.teachers = []
            self.dim = self.student.config.width
            self.size = self.student.config.resolution
        else:
            self.student = None
            specs = spec.get("teachers") or [spec["teacher"]]  # models saved before the typed contract: "teacher"
            self.teachers = [load_teacher(t, base_dir, device()) for t in specs]
            self.dim = sum(t.feature_dim for t in self.teachers)
            self.size = max(t.resolution for t in self.teachers)  # images are loaded at this size, each resizes

    def to(self, device: torch.device) -> Encoder:
        if self.student is not None:
            self.student.to(device)
        for t in self.teachers:
            t.model.to(device)
            t.mean, t.std = t.mean.to(device), t.std.to(device)
        return self

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        if self.student is not None:
            grid = self.student(images)[1]
        else:
            grids = [t(images)[1] for t in self.teachers]
            size = min((g.shape[-2], g.shape[-1]) for g in grids)  # the coarsest grid: fewest image tokens
            grid = torch.cat([resize_grid(g.float(), size) for g in grids], dim=1)
        tokens: Tensor = grid.flatten(2).transpose(1, 2).float()  # [B, h*w, C]
        return tokens


def projector(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))


class MLLM(nn.Module):
    lm: Any
    encoder: Encoder
    projector: nn.Module

    def __init__(self, encoder: Encoder, lm: Any, projector_type: str) -> None:
        super().__init__()
        object.__setattr__(self, "encoder", encoder)  # not a submodule: frozen, rebuilt from its source
        self.lm = lm
        self.projector_type = projector_type
        self.projector = projector(projector_type, encoder.dim, lm.config.hidden_size)
        self._encoder_device: torch.device | None = None

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        self.lm.gradient_checkpointing_enable(**kwargs)

    def image_embeddings(self, images: Tensor) -> Tensor:
        if self._encoder_device != images.device:
            self.encoder.to(images.device)
            self._encoder_device = images.device
        feats = self.encoder(images)
        proj: Tensor = self.projector(feats.to(next(self.projector.parameters()).dtype))
        return proj

    def forward(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor,
                labels: Tensor | None = None) -> dict[str, Tensor]:
        image = self.image_embeddings(pixel_values)
        text = self.lm.get_input_embeddings()(input_ids)
        embeds = torch.cat([image.to(text.dtype), text], dim=1)
        mask = torch.cat([torch.ones(image.shape[:2], dtype=attention_mask.dtype, device=attention_mask.device),
                          attention_mask], dim=1)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask)
        result = {"logits": out.logits}
        if labels is not None:
            full = torch.cat([torch.full(image.shape[:2], -100, dtype=labels.dtype, device=labels.device), labels], 1)
            logits = out.logits[:, :-1].float()
            result["loss"] = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), full[:, 1:].reshape(-1),
                                                         ignore_index=-100)
        return result

    @torch.no_grad()
    def generate(self, pixel_values: Tensor, prompt_ids: list[list[int]], max_new_tokens: int, pad_id: int,
                 eos_id: int) -> list[list[int]]:
        """Greedy answers; each row = image tokens + its prompt, left-padded."""
        image = self.image_embeddings(pixel_values)
        embed = self.lm.get_input_embeddings()
        rows = [torch.cat([image[i].to(embed.weight.dtype), embed(torch.tensor(ids, device=image.device))])
                for i, ids in enumerate(prompt_ids)]
        longest = max(r.shape[0] for r in rows)
        embeds = torch.zeros(len(rows), longest, rows[0].shape[-1], dtype=rows[0].dtype, device=image.device)
        mask = torch.zeros(len(rows), longest, dtype=torch.long, device=image.device)
        for i, r in enumerate(rows):
            embeds[i, longest - r.shape[0]:] = r
            mask[i, longest - r.shape[0]:] = 1
        out = self.lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens,
                               do_sample=False, pad_token_id=pad_id, eos_token_id=eos_id)
        return [[t for t in seq.tolist() if t not in (pad_id, eos_id)] for seq in out]


def save(model: MLLM, state: dict[str, Tensor], tokenizer: Any, path: Path) -> None:
    """mllm.json (encoder, projector, LM config), model.safetensors (projector + LM), the tokenizer;
    config.json marks the folder as a model."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    # cloned: a tied LM shares its embedding with its head, and safetensors refuses shared storage
    keep = {k: v.detach().cpu().clone().contiguous() for k, v in state.items() if k.startswith(("lm.", "projector."))}
    save_file(keep, str(path / "model.safetensors"))
    model.lm.config.save_pretrained(path / "lm")
    tokenizer.save_pretrained(path / "lm")
    meta = {"model_type": MODEL_TYPE, "encoder": model.encoder.spec, "projector": model.projector_type}
    (path / "mllm.json").write_text(json.dumps(meta, indent=2))
    (path / "config.json").write_text(json.dumps({"model_type": MODEL_TYPE}))


def load(path: Path, base_dir: str) -> tuple[MLLM, Any]:
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    meta = json.loads((path / "mllm.json").read_text())
    lm = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path / "lm"))
    model = MLLM(Encoder(meta["encoder"], base_dir), lm, meta["projector"])
    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    tokenizer = AutoTokenizer.from_pretrained(path / "lm", padding_side="left")
    return model.eval(), tokenizer
