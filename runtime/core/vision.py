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


def image_only_processor(path: str, cause: ImportError) -> Any:
    """A VLM's processor without its video half, for machines without torchvision.

    Why: Qwen2-VL's processor holds an image and a video processor, and transformers builds
    the video one with torchvision or not at all, so `AutoProcessor` fails where torchvision
    is missing (PyPI's torchvision wheels are CUDA builds that break a CPU torch). Images
    need only the image processor and the tokenizer: the same processor class is built with
    those two (its `__call__` never touches the video processor when given no video).
    Anything else re-raises the original error.
    """
    import json

    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer

    name = None
    for file in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        config = Path(path, file)
        if name is None and config.is_file():
            name = json.loads(config.read_text(encoding="utf-8")).get("processor_class")
    cls = getattr(transformers, str(name), None) if name else None
    if cls is None or sorted(cls.get_attributes()) != ["image_processor", "tokenizer", "video_processor"]:
        raise cause
    attributes = ["image_processor", "tokenizer"]
    image_only = type(f"ImageOnly{cls.__name__}", (cls,), {
        "get_attributes": classmethod(lambda _cls: attributes),
        "__doc__": f"{cls.__name__} without its video processor (no torchvision here)."})
    template = Path(path, "chat_template.jinja")
    tokenizer = AutoTokenizer.from_pretrained(path)
    chat_template = (template.read_text(encoding="utf-8") if template.is_file()
                     else getattr(tokenizer, "chat_template", None))
    # the class's own __init__ passes video_processor=None on; ProcessorMixin zips the
    # arguments with these two attributes, so it is dropped
    return image_only(image_processor=AutoImageProcessor.from_pretrained(path), tokenizer=tokenizer,
                      chat_template=chat_template)
