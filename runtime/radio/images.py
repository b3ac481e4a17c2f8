"""Images as float tensors in [0, 1] at one size per batch: every encoder (teacher, student)
resizes and normalises them itself, so augmentation happens once, before all of them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from runtime.core import data
from runtime.core.errors import TaskInputError


def image_rows(path: str, what: str) -> list[dict[str, Any]]:
    """Rows of a JSONL file (image paths made absolute, relative to the file), or every image
    in a folder as {"image": path}."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not files:
            raise TaskInputError(f"{what}: {p} holds no .png/.jpg/.jpeg/.webp images")
        return [{"image": str(f)} for f in files]
    rows = []
    for row in data.filled(data.read_rows(p, what), ["image"], p):
        image = Path(str(row["image"]))
        row["image"] = str(image if image.is_absolute() else p.parent / image)
        rows.append(row)
    return rows


def load(paths: list[str], size: int, augment: bool = False, rng: random.Random | None = None) -> Any:
    """[B, 3, size, size] in [0, 1]. Augmentation (random resized crop of 60-100% of the area,
    horizontal flip) is drawn per image from `rng`."""
    import numpy as np
    import torch
    from PIL import Image

    out = []
    for path in paths:
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except OSError as exc:
            raise TaskInputError(f"image {path} does not open ({exc})") from None
        if augment:
            rng = rng or random.Random()
            w, h = img.size
            scale = rng.uniform(0.6, 1.0) ** 0.5
            cw, ch = max(1, int(w * scale)), max(1, int(h * scale))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            img = img.crop((x, y, x + cw, y + ch))
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        img = img.resize((size, size), Image.Resampling.BILINEAR)
        out.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(out)
