"""Rehearsal data: a few rows in the layout the run's reader expects, written where the
compiler pointed the rehearsed config (`specs.tasks.rehearsal.RehearsalData`).

When the real data is on disk its first rows are taken (the file's own format; image
paths made absolute, since the copy lives elsewhere). Otherwise the rows are synthetic but
format-true for the reader: chat messages as UltraChat has them, GSM8K's `<<a+b=c>>` and
`#### n` answers, UniMER-1M/UniMER-Test and im2latex-100k folder layouts, ImageNet-style
class folders, LLaVA's caption and question rows, and lm-evaluation-harness's named
tasks as their hub data sets' rows, split by split.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.core import data as readers
from runtime.core.errors import TaskInputError
from specs.tasks.rehearsal import RehearsalData

Row = dict[str, Any]
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}
SHAPES = ("square", "circle", "bar")
FORMULA_FILES = {"unimer", "im2latex", "folder_jsonl"}


def write(spec: RehearsalData) -> dict[str, Any]:
    """Write the rows; returns what was written (layout, rows, files)."""
    out = Path(spec.path)
    if spec.from_disk:
        return _from_disk(spec, out)
    writer = WRITERS.get(spec.layout)
    if writer is None:  # the compiler refuses these; a hand-written run.json may not
        raise TaskInputError(f"rehearsal: no synthetic writer for the {spec.layout!r} layout")
    written: dict[str, Any] = writer(spec, out, random.Random(0))
    return {"source": spec.source, "layout": spec.layout, "rows": spec.rows, **written}


# --- rows of text ----------------------------------------------------------------------

def _sums(rng: random.Random, n: int) -> list[tuple[str, str, int]]:
    """(question, worked answer, result): small word problems with the arithmetic spelt out."""
    out = []
    for i in range(n):
        a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
        total = (a + b) * c
        question = (f"Sam has {a} apples and buys {b} more. He packs them {c} times over for a fair. "
                    f"How many apples does he pack? (#{i})")
        answer = (f"Sam has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} apples.\n"
                  f"Packed {c} times that is {a + b} * {c} = <<{a + b}*{c}={total}>>{total}.\n#### {total}")
        out.append((question, answer, total))
    return out


def _text(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """Prompt/completion rows; a completion field holding chat messages (UltraChat's
    `messages`) gets UltraChat's row shape."""
    f = spec.fields
    rows: list[Row] = []
    for question, answer, total in _sums(rng, spec.rows):
        completion = f"{answer.splitlines()[0]} The answer is {total}."
        if f.get("completion_field") == "messages":
            rows.append({f.get("prompt_field") or "prompt": question, "prompt_id": f"{rng.getrandbits(64):016x}",
                         "messages": [{"role": "user", "content": question},
                                      {"role": "assistant", "content": completion}]})
        else:
            rows.append({f.get("prompt_field") or "prompt": question, f.get("completion_field") or "completion":
                         completion})
    return _save(rows, out, spec.format)


def _math(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """GSM8K's rows: a question, and an answer with `<<...>>` calculations and `#### n`."""
    f = spec.fields
    rows = [{f.get("prompt_field") or "question": q, f.get("completion_field") or "answer": a}
            for q, a, _ in _sums(rng, spec.rows)]
    return _save(rows, out, spec.format)


def _pairs(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    f = spec.fields
    rows = [{f.get("prompt_field") or "prompt": q, f.get("chosen_field") or "chosen": f"The answer is {total}.",
             f.get("rejected_field") or "rejected": f"The answer is {total + rng.randint(1, 9)}."}
            for q, _, total in _sums(rng, spec.rows)]
    return _save(rows, out, spec.format)


def _save(rows: list[Row], out: Path, fmt: str) -> dict[str, Any]:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        out.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "parquet":
        import datasets

        datasets.Dataset.from_list(rows).to_parquet(str(out))
    else:
        raise TaskInputError(f"rehearsal: no synthetic writer for {fmt!r} files")
    return {"files": [str(out)]}


# --- images ----------------------------------------------------------------------------

def _picture(path: Path, colour: str, shape: str, rng: random.Random, size: tuple[int, int] = (96, 72)) -> None:
    """A coloured shape on grey, a little different each time (position, size)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (200, 200, 200))
    draw = ImageDraw.Draw(img)
    w, h = size
    x, y, r = rng.randint(10, w // 2), rng.randint(10, h // 2), rng.randint(12, min(w, h) // 3)
    box = (x, y, x + r, y + (r // 3 if shape == "bar" else r))
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=COLOURS[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")


def _draws(rng: random.Random, n: int) -> list[tuple[str, str]]:
    return [(rng.choice(sorted(COLOURS)), rng.choice(SHAPES)) for _ in range(n)]


def _images(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """A folder of images (nested a level down, as web-scale image dumps are)."""
    for i, (colour, shape) in enumerate(_draws(rng, spec.rows)):
        _picture(out / f"{i // 16:05d}" / f"{i:09d}.png", colour, shape, rng)
    return {"files": [str(out)]}


def _image_classes(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """ImageNet's folder layout: train/<class>/*.png and val/<class>/*.png, the class being
    the colour (wnid-like folder names)."""
    per_class = max(2, spec.rows // len(COLOURS))
    for index, colour in enumerate(sorted(COLOURS)):
        folder = f"n{index:08d}"
        for split, n in (("train", per_class), ("val", max(1, per_class // 2))):
            for i in range(n):
                _picture(out / split / folder / f"{folder}_{i}.png", colour, rng.choice(SHAPES), rng)
    return {"files": [str(out)], "classes": len(COLOURS)}


def _captions(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """LLaVA pretraining rows: {"image": path relative to the file, "caption"}."""
    rows = []
    for i, (colour, shape) in enumerate(_draws(rng, spec.rows)):
        _picture(out.parent / "images" / f"{i:06d}.png", colour, shape, rng)
        rows.append({"id": f"{i:06d}", "image": f"images/{i:06d}.png", "caption": f"a {colour} {shape} on grey"})
    return _save(rows, out, spec.format)


def _vqa(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """LLaVA instruction and benchmark rows: {"image", "question", "answer"}."""
    rows = []
    for i, (colour, shape) in enumerate(_draws(rng, spec.rows)):
        _picture(out.parent / "images" / f"{i:06d}.png", colour, shape, rng)
        question = rng.choice(["What colour is the shape?", "What shape is it?"])
        answer = colour if "colour" in question else shape
        rows.append({"id": f"{i:06d}", "image": f"images/{i:06d}.png", "question": question, "answer": answer})
    return _save(rows, out, spec.format)


def _image_text(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """Image + prompt + completion rows for a vision-language SFT/DPO data section."""
    f = spec.fields
    rows = []
    for i, (colour, shape) in enumerate(_draws(rng, spec.rows)):
        _picture(out.parent / "images" / f"{i:06d}.png", colour, shape, rng)
        rows.append({f.get("image_field") or "image": f"images/{i:06d}.png",
                     f.get("prompt_field") or "prompt": "Describe the image.",
                     f.get("completion_field") or "completion": f"a {colour} {shape}",
                     f.get("chosen_field") or "chosen": f"a {colour} {shape}",
                     f.get("rejected_field") or "rejected": f"a {shape}"})
    return _save(rows, out, spec.format)


# --- formula data sets, in their published layouts -------------------------------------

def _formula(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """Rendered random formulas laid out as UniMER-1M + UniMER-Test, im2latex-100k
    (Zenodo's names, im2markup's `_filter` split files) or folder_jsonl."""
    from runtime.formula_dpo.synthetic import generate

    fmt, f = spec.format, spec.fields
    if fmt not in FORMULA_FILES:
        raise TaskInputError(f"rehearsal: no synthetic writer for formula data in the {fmt!r} layout")
    subsets = [s.lower() for s in f.get("test_subsets") or []] or (["spe", "cpe", "sce", "hwe"]
                                                                   if fmt == "unimer" else [])
    n_test = max(len(subsets), min(8, spec.rows))
    scratch = out.parent / f".{out.name}.render"
    rows = generate(scratch, spec.rows, n_test, seed=0, dpi=100, font_size=14, max_depth=2)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "unimer":
        _unimer_folder(rows["train"], out / "UniMER-1M" / "images", out / "UniMER-1M" / "train.txt")
        for k, subset in enumerate(subsets):
            part = rows["test"][k::len(subsets)]
            _unimer_folder(part, out / "UniMER-Test" / subset, out / "UniMER-Test" / f"{subset}.txt")
    elif fmt == "im2latex":
        images = out / "formula_images_processed"
        formulas: list[str] = []
        for split, name in ((f.get("train_split") or "train", "train"), (f.get("test_split") or "test", "test"),
                            ("validate", "test")):
            lines = []
            for row in rows[name]:
                stem = f"{len(formulas):07x}"
                images.mkdir(parents=True, exist_ok=True)
                shutil.copy(row["image"], images / f"{stem}.png")
                lines.append(f"{stem} {len(formulas)}")
                formulas.append(row["latex"])
            (out / f"im2latex_{split}_filter.lst").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (out / "im2latex_formulas.norm.lst").write_text("\n".join(formulas) + "\n", encoding="utf-8")
    else:
        for split, name in ((f.get("train_split") or "train", "train"), (f.get("test_split") or "test", "test")):
            lines = []
            for i, row in enumerate(rows[name]):
                target = out / "images" / split / f"{i:06d}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(row["image"], target)
                lines.append(json.dumps({"image": f"images/{split}/{i:06d}.png", "latex": row["latex"]}))
            (out / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.rmtree(scratch, ignore_errors=True)
    return {"files": [str(out)], "train": len(rows["train"]), "test": len(rows["test"])}


def _unimer_folder(rows: list[dict[str, str]], images: Path, formulas: Path) -> None:
    """Image NNNNNNN.png is line NNNNNNN (from 0) of the formulas file."""
    images.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        shutil.copy(row["image"], images / f"{i:07d}.png")
    formulas.write_text("".join(row["latex"] + "\n" for row in rows), encoding="utf-8")


# --- size ladder: local tasks and lm-evaluation-harness's named tasks -------------------

def _ladder_task(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """A local harness task's JSONL: every field its prompt template names, its answer and
    (for scored choices) its choices; with `rationale_field`, the worked answer in GSM8K's
    format (calculator annotations, '#### N') for the contamination probe's twins."""
    import jinja2
    from jinja2 import meta

    f = spec.fields
    names = sorted(meta.find_undeclared_variables(jinja2.Environment().parse(f.get("template") or "{{question}}")))
    rows = []
    for question, worked, total in _sums(rng, spec.rows):
        row: Row = {name: question for name in names}
        if f.get("rationale_field"):
            row[f["rationale_field"]] = worked
        if f.get("choices_field"):
            choices = [str(total), str(total + 1), str(total - 1), str(total * 2)]
            rng.shuffle(choices)
            row[f["choices_field"]] = choices
            row[f.get("answer_field") or "answer"] = choices.index(str(total))
        else:
            row[f.get("answer_field") or "answer"] = str(total)
        rows.append(row)
    return _save(rows, out, "jsonl")


def _gsm8k(rng: random.Random, n: int) -> list[Row]:
    return [{"question": q, "answer": a} for q, a, _ in _sums(rng, n)]


def _hellaswag(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for i in range(n):
        colour = rng.choice(sorted(COLOURS))
        endings = [f"paints the fence {c}." for c in sorted(COLOURS)]
        rows.append({"ind": i, "activity_label": "Painting fence", "ctx_a": "A man holds a brush.",
                     "ctx_b": "he", "ctx": "A man holds a brush. he", "endings": endings,
                     "source_id": f"rehearsal~{i}", "split": "val", "split_type": "indomain",
                     "label": str(sorted(COLOURS).index(colour))})
    return rows


def _winogrande(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for _ in range(n):
        answer = rng.choice(["1", "2"])
        rows.append({"sentence": "The trophy does not fit in the suitcase because the _ is too big.",
                     "option1": "trophy", "option2": "suitcase", "answer": answer})
    return rows


def _piqa(rng: random.Random, n: int) -> list[Row]:
    return [{"goal": "To dry wet shoes quickly,", "sol1": "stuff them with newspaper.",
             "sol2": "put them in the freezer.", "label": rng.choice([0, 1])} for _ in range(n)]


def _ifeval(rng: random.Random, n: int) -> list[Row]:
    """IFEval's rows: instructions checked by rules (kwargs as its data set stores them)."""
    kinds = [(["punctuation:no_comma"], [{}]),
             (["change_case:english_lowercase"], [{}]),
             (["length_constraints:number_sentences"], [{"relation": "less than", "num_sentences": 3}]),
             (["detectable_format:number_bullet_lists"], [{"num_bullets": 2}])]
    rows = []
    for i in range(n):
        ids, kwargs = kinds[i % len(kinds)]
        rows.append({"key": 1000 + i, "prompt": f"Write about apples ({ids[0].split(':')[1]}). #{i}",
                     "instruction_id_list": ids, "kwargs": kwargs})
    return rows


def _bbh(rng: random.Random, n: int) -> list[Row]:
    names = ["Amy", "Eli", "Eve", "Joe", "Mya"]
    rows = []
    for _ in range(n):
        order = names[:]
        rng.shuffle(order)
        options = "\n".join(f"({'ABCDE'[i]}) {name} finished first" for i, name in enumerate(names))
        rows.append({"input": f"Five golfers: {', '.join(order)}, finishing in that order. Options:\n{options}",
                     "target": f"({'ABCDE'[names.index(order[0])]})"})
    return rows


LM_EVAL_ROWS: dict[str, tuple[Callable[[random.Random, int], list[Row]], tuple[str, ...]]] = {
    "gsm8k": (_gsm8k, ("train", "test")),
    "hellaswag": (_hellaswag, ("train", "validation")),
    "winogrande": (_winogrande, ("train", "validation")),
    "piqa": (_piqa, ("train", "validation")),
    "ifeval": (_ifeval, ("train",)),
    "bbh_cot_fewshot_logical_deduction_five_objects": (_bbh, ("test",)),
}
# ifeval's checks split sentences with NLTK's punkt model, which NLTK downloads on first use;
# the rehearsal stages one with no learned parameters (it splits at every period)
PUNKT_FILES = ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab")


def _lm_eval(spec: RehearsalData, out: Path, rng: random.Random) -> dict[str, Any]:
    """<out>/<split>.jsonl for each split the named task reads (the benchmark task points
    the harness's `json` loader at them)."""
    task = spec.fields["task"]
    make, splits = LM_EVAL_ROWS[task]
    out.mkdir(parents=True, exist_ok=True)
    for split in splits:
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make(rng, spec.rows)),
                                           encoding="utf-8")
    if task == "ifeval":
        punkt = out / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
        punkt.mkdir(parents=True, exist_ok=True)
        for name in PUNKT_FILES:
            (punkt / name).touch()
    return {"files": [str(out / f"{s}.jsonl") for s in splits], "task": task}


# --- the first rows of real data -------------------------------------------------------

def _from_disk(spec: RehearsalData, out: Path) -> dict[str, Any]:
    source = Path(spec.source)
    if source.is_dir() and spec.layout in ("images", "image_classes"):
        return _first_images(spec, source, out)
    if source.is_dir() and spec.format != "hf_disk":
        raise TaskInputError(f"rehearsal: {source} is a folder; the rehearsal takes the first rows of files only")
    ds = readers.load(str(source), spec.format, f"rehearsal of {source}")
    ds = ds.select(range(min(spec.rows, len(ds))))
    rows = [_absolute_images(dict(r), source.parent) for r in ds]
    if spec.format == "hf_disk":
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(out))
        return {"source": str(source), "layout": spec.layout, "rows": len(rows), "files": [str(out)]}
    return {"source": str(source), "layout": spec.layout, "rows": len(rows),
            **_save(rows, out, spec.format if spec.format != "arrow" else "parquet")}


def _absolute_images(row: Row, base: Path) -> Row:
    """Image paths made absolute: the copy lives elsewhere than the file they were relative to."""
    for key in ("image", "images"):
        value = row.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute() and (base / value).exists():
            row[key] = str(base / value)
    return row


def _first_images(spec: RehearsalData, source: Path, out: Path) -> dict[str, Any]:
    """The first images of a folder, in the same sub-folders (class folders included)."""
    suffixes = (".png", ".jpg", ".jpeg", ".webp")
    if spec.layout == "image_classes":
        copied = 0
        for split in ("train", "val"):
            classes = sorted(p for p in (source / split).iterdir() if p.is_dir())[:4] if (source / split).is_dir() \
                else []
            for folder in classes:
                for image in sorted(f for f in folder.iterdir() if f.suffix.lower() in suffixes)[:4]:
                    (out / split / folder.name).mkdir(parents=True, exist_ok=True)
                    shutil.copy(image, out / split / folder.name / image.name)
                    copied += 1
        for split in ("train.jsonl", "test.jsonl"):  # the labelled-JSONL variant of the layout
            if (source / split).is_file():
                _save([_absolute_images(r, source) for r in readers.read_rows(source / split, str(source))[:spec.rows]],
                      out / split, "jsonl")
                copied += 1
        return {"source": str(source), "layout": spec.layout, "files": [str(out)], "rows": copied}
    images = []
    for path in sorted(source.rglob("*")):
        if path.suffix.lower() in suffixes:
            images.append(path)
            if len(images) == spec.rows:
                break
    for image in images:
        target = out / image.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, target)
    return {"source": str(source), "layout": spec.layout, "files": [str(out)], "rows": len(images)}


WRITERS: dict[str, Callable[[RehearsalData, Path, random.Random], dict[str, Any]]] = {
    "text": _text, "math": _math, "pairs": _pairs, "image_text": _image_text, "images": _images,
    "image_classes": _image_classes, "captions": _captions, "vqa": _vqa, "formula": _formula,
    "ladder_task": _ladder_task, "lm_eval": _lm_eval,
}
