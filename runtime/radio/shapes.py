"""A synthetic labelled image set for the RADIO route's tests and demos (no downloads).

Each image shows one shape (circle, square, triangle) in one colour (red, green, blue, yellow) in
one quadrant (top left, top right, bottom left, bottom right), with a little jitter and size
variation on a light, noisy background. The same rows give every stage something to learn and
measure: images to distil on, shape classes for the kNN probe, captions for an MLLM's pretraining
and three questions per image (shape, colour, position) for its finetuning and evaluation. The
48 combinations are drawn in shuffled rounds, so classes are balanced; everything is
deterministic for a seed.

    python -m runtime.radio.shapes DIR      # DIR/images, DIR/labelled, DIR/captions.jsonl, DIR/vqa*.jsonl
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

SHAPES = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "green": (30, 170, 30), "blue": (30, 30, 220), "yellow": (225, 200, 0)}
POSITIONS = ("top left", "top right", "bottom left", "bottom right")
QUESTIONS = (("What shape is this?", "shape"), ("What colour is the shape?", "colour"),
             ("Where is the shape?", "position"))


def _draw(shape: str, colour: str, position: str, size: int, rng: random.Random, noise_seed: int) -> Any:
    """One RGB image (PIL) of `shape` in `colour` in the `position` quadrant."""
    import numpy as np
    from PIL import Image, ImageDraw

    background = rng.randint(215, 245)
    img = Image.new("RGB", (size, size), (background,) * 3)
    draw = ImageDraw.Draw(img)
    half = size / 2
    extent = half * rng.uniform(0.55, 0.8)  # the shape's side / diameter, within its quadrant
    jitter = (half - extent) / 2
    cx = (0.5 if position.endswith("left") else 1.5) * half + rng.uniform(-jitter, jitter)
    cy = (0.5 if position.startswith("top") else 1.5) * half + rng.uniform(-jitter, jitter)
    r = extent / 2
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        base = cy + r * math.sqrt(3) / 2  # an equilateral-looking triangle, apex up
        draw.polygon([(cx, cy - r), (cx - r, base), (cx + r, base)], fill=fill)
    noise = np.random.RandomState(noise_seed).randint(-12, 13, (size, size, 3))
    pixels = np.clip(np.asarray(img, dtype=np.int64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def generate(out_dir: Path, n: int, seed: int, size: int = 32) -> list[dict[str, Any]]:
    """n images saved as out_dir/00000.png ...; one row per image: {"image": absolute path, "shape",
    "colour", "position", "label": shape class (index in SHAPES), "caption", "questions": [{question,
    answer}] x 3 (shape, colour, position)}."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    combos = [(s, c, p) for s in SHAPES for c in COLOURS for p in POSITIONS]
    order: list[tuple[str, str, str]] = []
    rows = []
    for i in range(n):
        if not order:
            order = combos[:]
            rng.shuffle(order)
        shape, colour, position = order.pop()
        path = out_dir / f"{i:05d}.png"
        _draw(shape, colour, position, size, rng, noise_seed=(seed * 1_000_003 + i) % 2**32).save(path)
        values = {"shape": shape, "colour": colour, "position": position}
        rows.append({"image": str(path), **values, "label": SHAPES.index(shape),
                     "caption": f"a {colour} {shape} at the {position}",
                     "questions": [{"question": q, "answer": values[field]} for q, field in QUESTIONS]})
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def _relative(image: str, jsonl: Path) -> str:
    return Path(image).relative_to(jsonl.parent.resolve()).as_posix()


def write_sets(root: Path, seed: int = 0, size: int = 32, n_train: int = 256, n_test: int = 64) -> dict[str, Path]:
    """The route's data under root (image paths in rows relative to the JSONL file's folder):
    images/ (images/*.png + images.jsonl {"image"}: distillation images, also the captioned and
    VQA training images), labelled/ ({train,test}.jsonl {"image", "label"}: shape classes for kNN,
    images of their own), captions.jsonl {"image", "caption"}, vqa.jsonl (training images) and
    vqa-test.jsonl (the labelled test images) {"image", "question", "answer"}, one row per question.
    Returns {"images", "labelled", "captions", "vqa", "vqa_test"}."""
    root = Path(root).resolve()
    distill = generate(root / "images" / "images", n_train, seed, size)
    train = generate(root / "labelled" / "train", n_train, seed + 1, size)
    test = generate(root / "labelled" / "test", n_test, seed + 2, size)
    out = {"images": root / "images", "labelled": root / "labelled", "captions": root / "captions.jsonl",
           "vqa": root / "vqa.jsonl", "vqa_test": root / "vqa-test.jsonl"}
    images_jsonl = out["images"] / "images.jsonl"
    _write_jsonl(images_jsonl, [{"image": _relative(r["image"], images_jsonl)} for r in distill])
    for name, rows in (("train", train), ("test", test)):
        jsonl = out["labelled"] / f"{name}.jsonl"
        _write_jsonl(jsonl, [{"image": _relative(r["image"], jsonl), "label": r["label"]} for r in rows])
    _write_jsonl(out["captions"], [{"image": _relative(r["image"], out["captions"]), "caption": r["caption"]}
                                   for r in distill])
    for key, rows in (("vqa", distill), ("vqa_test", test)):
        _write_jsonl(out[key], [{"image": _relative(r["image"], out[key]), **q} for r in rows for q in r["questions"]])
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m runtime.radio.shapes DIR")
    for key, path in write_sets(Path(sys.argv[1])).items():
        print(f"{key}: {path}")
