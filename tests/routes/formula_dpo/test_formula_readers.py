"""Formula data readers on small copies of each real layout: rows, paths, subsets, and every error."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from runtime.core.errors import TaskInputError
from runtime.formula_dpo.readers import _READERS, FORMATS, read_split


def png(path: Path, shade: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (4, 3), shade).save(path)
    return path


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (5, 2), (255, 0, 0)).save(out, format=fmt)
    return out.getvalue()


def read(fmt: str, root: Path, split: str, subsets: list[str] | None = None, out: Path | None = None) -> list[dict]:
    return read_split(fmt, root, split, subsets or [], out or root.parent / "out")


def fails(match: str, fmt: str, root: Path, split: str, subsets: list[str] | None = None) -> str:
    with pytest.raises(TaskInputError, match=match) as info:
        read(fmt, root, split, subsets)
    return str(info.value)


def test_formats_and_dispatch_agree():
    assert FORMATS == ("im2latex", "im2latex_parquet", "unimer", "folder_jsonl")
    assert tuple(_READERS) == FORMATS


def test_unknown_format_root_and_subsets(tmp_path: Path):
    message = fails("unknown formula data format 'latex'", "latex", tmp_path, "train")
    assert all(f in message for f in FORMATS)
    fails(r"is not a folder", "im2latex", tmp_path / "nowhere", "train")
    fails(r"im2latex data has no subsets.*remove subsets \['SPE'\]", "im2latex", tmp_path, "test", ["SPE"])


# im2latex-100k as on Zenodo: formulas split at "\n" only (one holds "\r"), a Latin-1 byte, split lines
# `formula_idx image_name render_type` with image names lacking .png, full-page images in formula_images/.
ZENODO_FORMULAS = b"a^2 + b^2\nx \\\\\r y = 1\n\\text{gar\xe7on} \n\xce\xb1 + 1\n"


def zenodo(root: Path) -> Path:
    root.mkdir()
    (root / "im2latex_formulas.lst").write_bytes(ZENODO_FORMULAS)
    (root / "im2latex_train.lst").write_text("0 aaa basic\n2 ccc basic\n\n")
    (root / "im2latex_validate.lst").write_text("1 bbb basic\n")
    (root / "im2latex_test.lst").write_text("3 ddd basic\n")
    for name in ("aaa", "bbb", "ccc", "ddd"):
        png(root / "formula_images" / f"{name}.png")
    return root


def test_im2latex_zenodo_layout(tmp_path: Path):
    root = zenodo(tmp_path / "im2latex")
    images = root / "formula_images"
    assert read("im2latex", root, "train") == [
        {"image": str(images / "aaa.png"), "latex": "a^2 + b^2"},
        {"image": str(images / "ccc.png"), "latex": "\\text{garçon}"},  # Latin-1 byte, trailing space stripped
    ]
    # "\r" inside formula 1 does not shift formula 2 onto line 3
    assert read("im2latex", root, "val") == [{"image": str(images / "bbb.png"), "latex": "x \\\\\r y = 1"}]
    assert read("im2latex", root, "test")[0]["latex"] == "α + 1"  # valid UTF-8 stays UTF-8


def test_im2latex_relative_root_gives_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    zenodo(tmp_path / "im2latex")
    monkeypatch.chdir(tmp_path)
    image = Path(read("im2latex", Path("im2latex"), "train")[0]["image"])
    assert image.is_absolute() and image.is_file()


def im2markup(root: Path) -> Path:
    """im2markup's preprocessed files next to Zenodo's: .norm formulas (empty where KaTeX failed), _filter splits
    `image_name formula_idx`, cropped images in formula_images_processed/."""
    zenodo(root)
    (root / "im2latex_formulas.norm.lst").write_text("a ^ 2\n\nc\nd\n")
    (root / "im2latex_train_filter.lst").write_text("aaa.png 0\nbbb.png 1\n")
    (root / "im2latex_test_filter.lst").write_text("bbb.png 1\nddd.png 3\n")
    for name in ("aaa", "bbb", "ddd"):
        png(root / "formula_images_processed" / f"{name}.png")
    return root


def test_im2latex_prefers_normalised_filtered_processed(tmp_path: Path):
    root = im2markup(tmp_path / "im2latex")
    processed = root / "formula_images_processed"
    # train drops the empty formula as preprocess_filter.py --filter does; test (--no-filter) keeps it
    assert read("im2latex", root, "train") == [{"image": str(processed / "aaa.png"), "latex": "a ^ 2"}]
    assert [r["latex"] for r in read("im2latex", root, "test")] == ["", "d"]
    # no validate_filter file: the Zenodo split file, with the .norm formulas and the processed images
    (root / "im2latex_validate.lst").write_text("1 bbb basic\n2 ccc basic\n")
    fails(r"1 of 1 images are missing on disk, the first .*formula_images_processed/ccc.png "
          r"\(.*im2latex_validate.lst:2\)", "im2latex", root, "validate")


def test_im2latex_errors(tmp_path: Path):
    root = zenodo(tmp_path / "im2latex")
    (root / "im2latex_train.lst").write_text("0 aaa basic\n7 bbb basic\n")
    fails(r"im2latex_train.lst:2: formula index 7 is out of range: .*im2latex_formulas.lst has 4 formulas",
          "im2latex", root, "train")
    (root / "im2latex_train.lst").write_text("0 aaa basic\n1 xxx basic\n2 yyy basic\n")
    fails(r"im2latex_train.lst: 2 of 3 images are missing on disk, the first .*formula_images/xxx.png "
          r"\(.*im2latex_train.lst:2\)", "im2latex", root, "train")
    (root / "im2latex_train.lst").write_text("0 aaa basic extra\n")
    fails(r"im2latex_train.lst:1: expected 'image_name formula_idx'", "im2latex", root, "train")
    (root / "im2latex_train.lst").write_text("aaa.png one\n")
    fails(r"im2latex_train.lst:1: formula index 'one' is not a number", "im2latex", root, "train")
    (root / "im2latex_train.lst").write_text("\n")
    fails(r"im2latex_train.lst: the split is empty", "im2latex", root, "train")
    assert read("im2latex", root, "dev")[0]["latex"] == "x \\\\\r y = 1"  # dev is an alias of validate
    (root / "im2latex_validate.lst").unlink()
    message = fails(r"im2latex split 'dev': none of", "im2latex", root, "dev")
    assert "im2latex_dev_filter.lst" in message and "im2latex_validate.lst" in message  # dev is validate's alias
    fails(r"im2latex split 'extra': none of .*im2latex_extra_filter.lst, .*im2latex_extra.lst exists",
          "im2latex", root, "extra")
    (root / "im2latex_formulas.lst").unlink()
    fails(r"im2latex formulas: none of .*im2latex_formulas.norm.lst, .*im2latex_formulas.lst exists",
          "im2latex", root, "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "im2latex_formulas.lst").write_text("a\n")
    (empty / "im2latex_train.lst").write_text("0 aaa basic\n")
    fails(r"im2latex images: none of .*formula_images_processed, .*formula_images exists", "im2latex", empty, "train")


# yuntian-deng/im2latex-100k: data/{train,val,test}-0000x-of-0000n-<hash>.parquet, columns formula and
# image = struct<bytes: binary, path: string> as `datasets` writes it.
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def parquet(path: Path, formulas: list[str | None], images: list[dict | None], text: str = "formula") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({text: pa.array(formulas, pa.string()), "image": pa.array(images, IMAGE_TYPE)})
    pq.write_table(table, path)


def test_im2latex_parquet_hf_layout(tmp_path: Path):
    root, out = tmp_path / "hf", tmp_path / "out"
    shard = "-of-00002-93885635ef7c6898.parquet"
    parquet(root / "data" / f"train-00000{shard}", ["a ^ 2 \n", "b"],
            [{"bytes": image_bytes("PNG"), "path": None}, {"bytes": image_bytes("JPEG"), "path": "x.jpg"}])
    parquet(root / "data" / f"train-00001{shard}", ["c"], [{"bytes": image_bytes("PNG"), "path": None}])
    parquet(root / "data" / "val-00000-of-00001-3f88ebb0c1272ccf.parquet", ["v"],
            [{"bytes": image_bytes("PNG"), "path": None}])
    rows = read("im2latex_parquet", root, "train", out=out)
    assert rows == [{"image": str(out / "train" / f"{i}.png"), "latex": t} for i, t in enumerate(["a ^ 2", "b", "c"])]
    for row in rows:
        assert Path(row["image"]).read_bytes().startswith(b"\x89PNG")  # the JPEG became a PNG
        assert Image.open(row["image"]).size == (5, 2)
    assert sorted(p.name for p in (out / "train").iterdir()) == ["0.png", "1.png", "2.png"]  # no partial files
    assert read("im2latex_parquet", root, "validate", out=out) == [{"image": str(out / "validate" / "0.png"),
                                                                   "latex": "v"}]


def test_im2latex_parquet_other_layouts(tmp_path: Path):
    flat, converted = tmp_path / "flat", tmp_path / "converted"
    parquet(flat / "test.parquet", ["t"], [{"bytes": image_bytes("PNG"), "path": None}], text="latex_formula")
    assert read("im2latex_parquet", flat, "test")[0]["latex"] == "t"
    png(converted / "default" / "train" / "pic.png")  # path-only image, relative to the parquet file
    parquet(converted / "default" / "train" / "0000.parquet", ["p"], [{"bytes": None, "path": "pic.png"}])
    assert read("im2latex_parquet", converted, "train") == [
        {"image": str(converted / "default" / "train" / "pic.png"), "latex": "p"}]


def test_im2latex_parquet_errors(tmp_path: Path):
    root = tmp_path / "hf"
    root.mkdir()
    message = fails(r"im2latex_parquet: no parquet file for split 'test' under", "im2latex_parquet", root, "test")
    assert "test.parquet" in message and "data/test-*.parquet" in message and "default/test/*.parquet" in message
    parquet(root / "test.parquet", ["t"], [{"bytes": image_bytes("PNG"), "path": None}], text="caption")
    fails(r"test.parquet: expected an 'image' column and the formula in one of formula, .*; it has caption, image",
          "im2latex_parquet", root, "test")
    parquet(root / "test.parquet", ["t", "u"], [{"bytes": image_bytes("PNG"), "path": None}, None])
    fails(r"test.parquet row 1: the image holds no bytes; save the data set with its images embedded",
          "im2latex_parquet", root, "test")
    parquet(root / "test.parquet", ["t"], [{"bytes": None, "path": "gone.png"}])
    fails(r"test.parquet row 0: the image holds no bytes and .*gone.png does not exist", "im2latex_parquet", root,
          "test")
    parquet(root / "test.parquet", ["t"], [{"bytes": b"not an image", "path": None}])
    fails(r"test.parquet row 0: the image bytes are not an image PIL can read", "im2latex_parquet", root, "test")
    parquet(root / "test.parquet", [], [])
    fails(r"test.parquet: the split is empty", "im2latex_parquet", root, "test")
    (root / "test.parquet").write_bytes(b"PAR1 but not really")
    fails(r"test.parquet: cannot read it as parquet", "im2latex_parquet", root, "test")


# UniMER-1M.zip / UniMER-Test.zip unpacked: images named by formula line from 0, 0000000.png; UniMER-1M keeps the
# lines of the images its release removed.
def unimer(root: Path) -> Path:
    one_m = root / "UniMER-1M"
    (one_m / "images").mkdir(parents=True)
    (one_m / "train.txt").write_text("a + b\nremoved image\n\\frac{1}{2} \n")
    png(one_m / "images" / "0000000.png")
    png(one_m / "images" / "0000002.png")
    test = root / "UniMER-Test"
    for number, subset in enumerate(("spe", "cpe", "sce", "hwe")):
        (test / subset).mkdir(parents=True)
        (test / f"{subset}.txt").write_text(f"{subset} 0\n{subset} 1\n")
        png(test / subset / "0000000.png", shade=number)
        png(test / subset / "0000001.png", shade=number)
    return root


def test_unimer_train(tmp_path: Path):
    root = unimer(tmp_path / "data")
    images = root / "UniMER-1M" / "images"
    expected = [{"image": str(images / "0000000.png"), "latex": "a + b"},
                {"image": str(images / "0000002.png"), "latex": "\\frac{1}{2}"}]
    assert read("unimer", root, "train") == expected
    assert read("unimer", root / "UniMER-1M", "train") == expected  # root pointing at UniMER-1M itself


def test_unimer_test_subsets(tmp_path: Path):
    root = unimer(tmp_path / "data")
    test = root / "UniMER-Test"
    rows = read("unimer", root, "test", ["SPE", "hwe"])
    assert rows == [{"image": str(test / s / f"000000{i}.png"), "latex": f"{s} {i}", "subset": s.upper()}
                    for s in ("spe", "hwe") for i in (0, 1)]
    everything = read("unimer", root, "test")
    assert [r["subset"] for r in everything] == ["SPE"] * 2 + ["CPE"] * 2 + ["SCE"] * 2 + ["HWE"] * 2
    assert read("unimer", test, "test", ["cpe"]) == [r for r in everything if r["subset"] == "CPE"]  # root = Test


def test_unimer_folder_names_any_case(tmp_path: Path):
    root = unimer(tmp_path / "data")
    (root / "UniMER-Test").rename(root / "UniMER-test")
    (root / "UniMER-test" / "sce").rename(root / "UniMER-test" / "SCE")
    rows = read("unimer", root, "test", ["sce"])
    assert [Path(r["image"]).parent.name for r in rows] == ["SCE", "SCE"]


def test_unimer_errors(tmp_path: Path):
    root = unimer(tmp_path / "data")
    fails(r"unimer has splits 'train' \(UniMER-1M\) and 'test' \(UniMER-Test\), not 'validate'", "unimer", root,
          "validate")
    fails(r"unimer test subsets \['xyz'\] unknown: use some of SPE, CPE, SCE, HWE", "unimer", root, "test", ["XYZ"])
    png(root / "UniMER-1M" / "images" / "0000003.png")
    fails(r"0000003.png: no formula for it, .*train.txt has only 3 lines", "unimer", root, "train")
    (root / "UniMER-1M" / "images" / "0000003.png").rename(root / "UniMER-1M" / "images" / "copy.png")
    fails(r"copy.png: UniMER images are named by their formula's line \(0000000.png for the first line of "
          r"train.txt\)", "unimer", root, "train")
    (root / "UniMER-Test" / "hwe.txt").write_text("hwe 0\n\n")
    fails(r"hwe.txt:2: empty formula for 0000001.png", "unimer", root, "test", ["HWE"])
    (root / "UniMER-Test" / "cpe.txt").unlink()
    fails(r"unimer: .*UniMER-Test/cpe.txt not found; the unimer root should hold UniMER-1M/ and UniMER-Test/",
          "unimer", root, "test", ["CPE"])
    for image in (root / "UniMER-Test" / "sce").iterdir():
        image.unlink()
    fails(r"UniMER-Test/sce: the split is empty", "unimer", root, "test", ["SCE"])
    fails(r"unimer: .*/images/ and .*/train.txt not found", "unimer", tmp_path, "train")


# A folder of images plus <split>.jsonl, for data sets with no published layout of their own.
def test_folder_jsonl(tmp_path: Path):
    root = tmp_path / "mine"
    png(root / "imgs" / "a.png")
    elsewhere = png(tmp_path / "elsewhere.png")
    lines = [{"image": "imgs/a.png", "latex": " x^2 \n"}, {"image": str(elsewhere), "formula": "y\u2028z"},
             {"image": "imgs/a.png", "text": "t"}]
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + "\n\n"
    (root / "val.jsonl").write_text(text, encoding="utf-8")
    assert read("folder_jsonl", root, "validate") == [
        {"image": str(root / "imgs" / "a.png"), "latex": "x^2"},
        {"image": str(elsewhere), "latex": "y\u2028z"},  # U+2028 inside a formula is not a line break
        {"image": str(root / "imgs" / "a.png"), "latex": "t"},
    ]


def test_folder_jsonl_errors(tmp_path: Path):
    root = tmp_path / "mine"
    root.mkdir()
    fails(r"folder_jsonl split 'train': none of .*train.jsonl exists", "folder_jsonl", root, "train")
    path = root / "train.jsonl"
    path.write_text('{"image": "a.png", "latex": "x"}\n{"image": "b.png", "latex": "y"}\n')
    fails(r"train.jsonl: 2 of 2 images are missing on disk, the first .*a.png \(.*train.jsonl:1\)",
          "folder_jsonl", root, "train")
    path.write_text('{"image": "a.png", "latex": "x"}\n{"image": "a.png", "latex": \n')
    fails(r"train.jsonl:2: not valid JSON", "folder_jsonl", root, "train")
    path.write_text('{"image": "a.png", "label": "x"}\n')
    fails(r"train.jsonl:1: needs 'image' .* it has image, label", "folder_jsonl", root, "train")
    path.write_text('["a.png", "x"]\n')
    fails(r"train.jsonl:1: expected a JSON object", "folder_jsonl", root, "train")
    path.write_bytes(b'{"image": "a.png", "latex": "gar\xe7on"}\n')
    fails(r"train.jsonl: not UTF-8", "folder_jsonl", root, "train")
    path.write_text("\n")
    fails(r"train.jsonl: the split is empty", "folder_jsonl", root, "train")
