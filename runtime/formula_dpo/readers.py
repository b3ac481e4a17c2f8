"""Formula-recognition data sets read in the layouts they are published in.

Why: im2latex-100k (Zenodo record 56198, or harvardnlp/im2markup's preprocessed files), its
Hugging Face parquet copy (yuntian-deng/im2latex-100k) and UniMERNet's UniMER-1M/UniMER-Test
are each laid out differently, and each has a trap that silently pairs images with the wrong
formulas when read the obvious way (the readers' docstrings say which). Reading them here, as
they lie on disk after download, spares users a conversion step, and every problem with the
files becomes one `TaskInputError` naming the file (and line) and what to change.

Every reader returns rows {"image": absolute path, "latex": gold LaTeX}, plus "subset" where
the split has subsets (UniMER-Test).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.core.errors import TaskInputError

FORMATS = ("im2latex", "im2latex_parquet", "unimer", "folder_jsonl")
UNIMER_SUBSETS = ("spe", "cpe", "sce", "hwe")
VALIDATE_NAMES = ("validate", "val", "validation", "valid", "dev")  # im2latex says validate, Hugging Face val
TEXT_COLUMNS = ("formula", "latex", "latex_formula", "text")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Row = dict[str, str]


def read_split(fmt: str, root: Path, split: str, subsets: list[str], images_out: Path) -> list[Row]:
    """Rows {"image": absolute image path (str), "latex": gold LaTeX (str)} plus "subset": name when the split has
    subsets."""
    reader = _READERS.get(fmt)
    if reader is None:
        raise TaskInputError(f"unknown formula data format {fmt!r}: use one of {', '.join(FORMATS)}")
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise TaskInputError(f"{fmt} data: {root} is not a folder; set the data root to the folder the data set "
                             "was unpacked in")
    if subsets and fmt != "unimer":
        raise TaskInputError(f"{fmt} data has no subsets (only unimer's test split has SPE/CPE/SCE/HWE): "
                             f"remove subsets {subsets}")
    return reader(root, split, [s.lower() for s in subsets], Path(images_out).expanduser().absolute())


def _im2latex(root: Path, split: str, subsets: list[str], images_out: Path) -> list[Row]:
    """im2latex-100k: a formulas file, one formula a line, and split files pointing into it by line (from 0).

    Zenodo's split files have lines `formula_idx image_name render_type` (image_name without .png), im2markup's
    `_filter` files `image_name formula_idx`. The formulas file must be split at "\\n" only: some formulas hold a
    "\\r", and universal newlines make 104563 lines of its 103558 (Zenodo's note). Some lines are not UTF-8.
    Empty formulas (im2markup's normalisation empties those KaTeX cannot parse) are dropped from train and
    validate, as im2markup's `preprocess_filter.py --filter` does, and kept in test, which it runs with
    `--no-filter`: they count as references there.
    """
    names = _split_names(split)
    formulas_path = _first_existing([root / "im2latex_formulas.norm.lst", root / "im2latex_formulas.lst"],
                                    "im2latex formulas", "download im2latex_formulas.lst (Zenodo) or "
                                    "im2latex_formulas.norm.lst (im2markup) into the data root")
    split_path = _first_existing([root / f"im2latex_{n}{kind}.lst" for n in names for kind in ("_filter", "")],
                                 f"im2latex split {split!r}", "use a split the data set has: train, validate, test")
    image_dir = _first_existing([root / "formula_images_processed", root / "formula_images"], "im2latex images",
                                "unpack formula_images.tar.gz (or formula_images_processed.tar.gz) in the data root")
    formulas = [line.strip() for line in _lines(formulas_path)]
    on_disk = set(os.listdir(image_dir))
    keep_empty = split.lower() == "test"
    rows: list[Row] = []
    missing: list[str] = []
    for number, line in enumerate(_lines(split_path), start=1):
        fields, where = line.split(), f"{split_path}:{number}"
        if not fields:
            continue
        if len(fields) == 3:
            index_text, name = fields[0], fields[1]
        elif len(fields) == 2:
            name, index_text = fields
        else:
            raise TaskInputError(f"{where}: expected 'image_name formula_idx' (im2markup) or 'formula_idx "
                                 f"image_name render_type' (Zenodo), got {line.strip()!r}")
        if not index_text.isdecimal():
            raise TaskInputError(f"{where}: formula index {index_text!r} is not a number")
        index = int(index_text)
        if index >= len(formulas):
            raise TaskInputError(f"{where}: formula index {index} is out of range: {formulas_path} has "
                                 f"{len(formulas)} formulas; use the formulas file this split file was made with")
        if not formulas[index] and not keep_empty:
            continue
        name = name if "." in name else name + ".png"
        if name not in on_disk:
            missing.append(f"{image_dir / name} ({where})")
            continue
        rows.append({"image": str(image_dir / name), "latex": formulas[index]})
    _require_images(missing, len(rows) + len(missing), str(split_path), f"unpack all images into {image_dir}")
    return _nonempty(rows, split_path)


def _im2latex_parquet(root: Path, split: str, subsets: list[str], images_out: Path) -> list[Row]:
    """Parquet as `datasets` writes it (yuntian-deng/im2latex-100k: data/{train,val,test}-*.parquet, columns
    `formula` and `image` = {"bytes", "path"}). Each image is written to images_out/<split>/<row>.png."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # untyped; ships with `datasets`

    files = _parquet_files(root, split)
    out_dir = images_out / split
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for path in files:
        try:
            parquet = pq.ParquetFile(path)
            columns = parquet.schema_arrow.names
            text = next((c for c in TEXT_COLUMNS if c in columns), None)
            if text is None or "image" not in columns:
                raise TaskInputError(f"{path}: expected an 'image' column and the formula in one of "
                                     f"{', '.join(TEXT_COLUMNS)}; it has {', '.join(columns)}")
            number = 0
            for batch in parquet.iter_batches(batch_size=256, columns=[text, "image"]):
                for record in batch.to_pylist():
                    where = f"{path} row {number}"
                    image = _save_image(record["image"], out_dir / f"{len(rows)}.png", path.parent, where)
                    rows.append({"image": image, "latex": (record[text] or "").strip()})
                    number += 1
        except (OSError, ValueError) as exc:  # pyarrow's errors derive from these; writing raises TaskInputError
            raise TaskInputError(f"{path}: cannot read it as parquet ({exc})") from None
    return _nonempty(rows, ", ".join(map(str, files)))


def _unimer(root: Path, split: str, subsets: list[str], images_out: Path) -> list[Row]:
    """UniMERNet's data as unpacked from UniMER-1M.zip / UniMER-Test.zip: `train` is UniMER-1M (images/ and
    train.txt), `test` UniMER-Test (<subset>/ and <subset>.txt for spe, cpe, sce, hwe). The root may hold those
    folders or be one of them."""
    hint = "the unimer root should hold UniMER-1M/ and UniMER-Test/ as unpacked from their zips, or be one of them"
    if split.lower() == "train":
        base = _child(root, "UniMER-1M") or root
        return _unimer_folder(base / "images", base / "train.txt", None, hint)
    if split.lower() != "test":
        raise TaskInputError(f"unimer has splits 'train' (UniMER-1M) and 'test' (UniMER-Test), not {split!r}")
    unknown = [s for s in subsets if s not in UNIMER_SUBSETS]
    if unknown:
        raise TaskInputError(f"unimer test subsets {unknown} unknown: use some of SPE, CPE, SCE, HWE (or none for all)")
    base = _child(root, "UniMER-Test") or root
    rows: list[Row] = []
    for subset in subsets or UNIMER_SUBSETS:
        image_dir = _child(base, subset) or base / subset
        rows += _unimer_folder(image_dir, _child(base, f"{subset}.txt") or base / f"{subset}.txt", subset.upper(), hint)
    return rows


def _unimer_folder(image_dir: Path, formulas_path: Path, subset: str | None, hint: str) -> list[Row]:
    """Image NNNNNNN.png goes with line NNNNNNN (from 0) of the formulas file, split at "\\n" (UniMERNet's
    Im2LatexDataset). Lines without an image are skipped as UniMERNet and PaddleOCR do: UniMER-1M's release
    removed 1166 invalid images and kept their lines. An image without a formula is an error; so is an empty
    formula in UniMER-Test, as in UniMERNet's test.py."""
    absent = [f"{image_dir}/"] * (not image_dir.is_dir()) + [str(formulas_path)] * (not formulas_path.is_file())
    if absent:
        raise TaskInputError(f"unimer: {' and '.join(absent)} not found; {hint}")
    formulas = [line.strip() for line in _lines(formulas_path)]
    indexed: list[tuple[int, Path]] = []
    for image in image_dir.glob("*.png"):
        if not image.stem.isdecimal():
            raise TaskInputError(f"{image}: UniMER images are named by their formula's line (0000000.png for the "
                                 f"first line of {formulas_path.name}); remove or rename this file")
        indexed.append((int(image.stem), image))
    rows: list[Row] = []
    for index, image in sorted(indexed):
        if index >= len(formulas):
            raise TaskInputError(f"{image}: no formula for it, {formulas_path} has only {len(formulas)} lines; the "
                                 f"images and {formulas_path.name} come from different downloads, unpack both "
                                 "from the same zip")
        if subset and not formulas[index]:
            raise TaskInputError(f"{formulas_path}:{index + 1}: empty formula for {image.name}; restore the line "
                                 "from the UniMER-Test zip or remove the image")
        row = {"image": str(image), "latex": formulas[index]}
        if subset:
            row["subset"] = subset
        rows.append(row)
    return _nonempty(rows, image_dir)


def _folder_jsonl(root: Path, split: str, subsets: list[str], images_out: Path) -> list[Row]:
    """root/<split>.jsonl, rows {"image": path relative to root or absolute, "latex" (or "formula", "text")}.
    Lines are split at "\\n" only: a JSON string may hold U+2028, which str.splitlines splits at."""
    path = _first_existing([root / f"{n}.jsonl" for n in _split_names(split)], f"folder_jsonl split {split!r}",
                           'write one JSON object a line: {"image": "...", "latex": "..."}')
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TaskInputError(f"{path}: not UTF-8 (byte {exc.start}: {exc.reason}); save it as UTF-8") from None
    rows: list[Row] = []
    missing: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskInputError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(record, dict):
            raise TaskInputError(f"{where}: expected a JSON object with 'image' and 'latex', "
                                 f"got {type(record).__name__}")
        image = record.get("image")
        latex = next((record[k] for k in ("latex", "formula", "text") if k in record), None)
        if not isinstance(image, str) or not image or not isinstance(latex, str):
            raise TaskInputError(f"{where}: needs 'image' (a path relative to {root} or absolute) and the formula "
                                 f"as a string in 'latex' (or 'formula' or 'text'); it has "
                                 f"{', '.join(record) or 'nothing'}")
        image_path = root / Path(image).expanduser()
        if not image_path.is_file():
            missing.append(f"{image_path} ({where})")
            continue
        rows.append({"image": str(image_path), "latex": latex.strip()})
    _require_images(missing, len(rows) + len(missing), str(path), f"fix the 'image' paths (relative to {root})")
    return _nonempty(rows, path)


_READERS: dict[str, Callable[[Path, str, list[str], Path], list[Row]]] = {
    "im2latex": _im2latex,
    "im2latex_parquet": _im2latex_parquet,
    "unimer": _unimer,
    "folder_jsonl": _folder_jsonl,
}


def _split_names(split: str) -> list[str]:
    """The split as named, then its other usual names."""
    return [split, *(n for n in VALIDATE_NAMES if n != split and split.lower() in VALIDATE_NAMES)]


def _first_existing(candidates: list[Path], what: str, hint: str) -> Path:
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        raise TaskInputError(f"{what}: none of {', '.join(map(str, candidates))} exists; {hint}")
    return found


def _child(parent: Path, name: str) -> Path | None:
    """parent/name, its case as on disk (UniMER-Test, UniMER-test, SPE, spe)."""
    exact = parent / name
    if exact.exists():
        return exact
    return next((p for p in parent.iterdir() if p.name.lower() == name.lower()), None) if parent.is_dir() else None


def _lines(path: Path) -> list[str]:
    """The lines of a formulas or split file, split at "\\n" only; UTF-8, Latin-1 where a line is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TaskInputError(f"{path}: cannot read it ({exc.strerror})") from None
    raw = data.split(b"\n")
    if raw[-1] == b"":
        raw.pop()
    return [_decode(line) for line in raw]


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _parquet_files(root: Path, split: str) -> list[Path]:
    patterns = [f"{n}{p}" for n in _split_names(split) for p in (".parquet", "-*.parquet", "/*.parquet")]
    patterns = [p for pattern in patterns for p in (pattern, f"data/{pattern}", f"default/{pattern}")]
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if found:
            return found
    raise TaskInputError(f"im2latex_parquet: no parquet file for split {split!r} under {root} (looked for "
                         f"{', '.join(patterns[:9])}{', ...' if len(patterns) > 9 else ''}); download the data "
                         "set's data/ folder into the data root")


def _save_image(value: Any, target: Path, base: Path, where: str) -> str:
    """A `datasets` image ({"bytes", "path"}, or bare bytes) as a PNG at target; a path-only image as its path."""
    data = value.get("bytes") if isinstance(value, dict) else value
    if isinstance(data, bytes) and data:
        data = data if data.startswith(PNG_SIGNATURE) else _to_png(data, where)
        partial = target.with_name(f".{target.name}.{os.getpid()}")  # readers on other ranks never see half a file
        try:
            partial.write_bytes(data)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise TaskInputError(f"{target}: cannot write the image ({exc.strerror}); images_out must be a "
                                 "writable folder with free space") from None
        return str(target)
    path = value.get("path") if isinstance(value, dict) else None
    if isinstance(path, str) and (base / path).is_file():
        return str(base / path)
    raise TaskInputError(f"{where}: the image holds no bytes{f' and {base / path} does not exist' if path else ''}; "
                         "save the data set with its images embedded (datasets' push_to_hub and to_parquet do)")


def _to_png(data: bytes, where: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.save(out, format="PNG")
    except OSError as exc:
        raise TaskInputError(f"{where}: the image bytes are not an image PIL can read ({exc})") from None
    return out.getvalue()


def _require_images(missing: list[str], total: int, source: str, hint: str) -> None:
    if missing:
        raise TaskInputError(f"{source}: {len(missing)} of {total} images are missing on disk, the first "
                             f"{missing[0]}; {hint}")


def _nonempty(rows: list[Row], source: Path | str) -> list[Row]:
    if not rows:
        raise TaskInputError(f"{source}: the split is empty (no image with a formula); point the data at the "
                             "files holding it")
    return rows
