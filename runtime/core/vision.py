"""Image + prompt -> text data for vision-language models (SFT, DPO, generation).

Rows name their image by a path relative to the data file (or absolute); every image is
opened before training starts, so a broken one is reported with its row and file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.core.errors import TaskInputError


def open_image(value: str, data_path: str, row: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    path = Path(value)
    if not path.is_absolute():
        path = Path(data_path).parent / path
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise TaskInputError(f"{data_path}: row {row + 1}: image {value!r} does not open ({exc})") from None


def with_images(ds: Any, image: str, data_path: str, make: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """A dataset of `make(row)` plus the row's opened image under "images"."""
    import datasets

    def gen() -> Any:
        for i, row in enumerate(ds):
            yield {"images": [open_image(str(row[image]), data_path, i)], **make(row)}

    return datasets.Dataset.from_generator(gen)


def user_turn(prompt: str, with_image: bool) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    if with_image:
        content.insert(0, {"type": "image"})
    return [{"role": "user", "content": content}]


def assistant_turn(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]
