"""Synthetic formula images: a deterministic grammar, mathtext rendering, clean splits."""

from __future__ import annotations

import random
import re
import statistics
from pathlib import Path

import pytest

from runtime.formula_dpo import synthetic
from runtime.formula_dpo.synthetic import (
    ACCENTS,
    BINARY_OPS,
    FUNCTIONS,
    GREEK,
    RELATIONS,
    generate,
    random_formula,
    render,
)

pytest.importorskip("matplotlib")  # the runtime extra: rendering needs it (and PIL)
PIL_Image = pytest.importorskip("PIL.Image")


def _formulas(seed: int, max_depth: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [random_formula(rng, max_depth) for _ in range(n)]


def _key(latex: str) -> str:
    return "".join(latex.split())


def _double_script(latex: str) -> bool:
    """Whether some base carries two superscripts or two subscripts (mathtext takes it, KaTeX refuses it)."""
    on_base: list[set[str]] = [set()]  # scripts on the current base, per open group
    is_script_arg: list[bool] = [False]
    after_script = False
    for tok in latex.split():
        if tok in ("^", "_"):
            if tok in on_base[-1]:
                return True
            on_base[-1].add(tok)
            after_script = True
        elif tok == "{":
            on_base.append(set())
            is_script_arg.append(after_script)
            after_script = False
        elif tok == "}":
            on_base.pop()
            if not is_script_arg.pop():
                on_base[-1] = set()  # a closed argument group ends a construct: a new base
        else:
            on_base[-1] = set()
            after_script = False
    return False


def test_same_seed_same_rows_and_identical_pngs(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", n_train=12, n_test=6, seed=7, dpi=100, font_size=12, max_depth=2)
    b = generate(tmp_path / "b", n_train=12, n_test=6, seed=7, dpi=100, font_size=12, max_depth=2)
    for split in ("train", "test"):
        assert [r["latex"] for r in a[split]] == [r["latex"] for r in b[split]]
        assert [Path(r["image"]).name for r in a[split]] == [Path(r["image"]).name for r in b[split]]
        for ra, rb in zip(a[split], b[split], strict=True):
            assert Path(ra["image"]).read_bytes() == Path(rb["image"]).read_bytes()
    other = generate(tmp_path / "c", n_train=12, n_test=6, seed=8, dpi=100, font_size=12, max_depth=2)
    assert [r["latex"] for r in other["train"]] != [r["latex"] for r in a["train"]]


def test_rows_are_absolute_pngs_under_images(tmp_path: Path) -> None:
    rows = generate(tmp_path / "out", n_train=5, n_test=3, seed=0, dpi=100, font_size=12, max_depth=1)
    assert set(rows) == {"train", "test"} and len(rows["train"]) == 5 and len(rows["test"]) == 3
    images = (tmp_path / "out" / "images").resolve()
    for row in rows["train"] + rows["test"]:
        assert set(row) == {"image", "latex"}
        path = Path(row["image"])
        assert path.is_absolute() and path.parent == images and path.suffix == ".png" and path.is_file()


def test_splits_are_disjoint_and_free_of_duplicates(tmp_path: Path) -> None:
    # depth 0 draws collide often, so this exercises the de-duplication
    draws = _formulas(3, 0, 300)
    assert len({_key(f) for f in draws}) < len(draws)
    rows = generate(tmp_path, n_train=60, n_test=40, seed=3, dpi=72, font_size=10, max_depth=0)
    train = [_key(r["latex"]) for r in rows["train"]]
    test = [_key(r["latex"]) for r in rows["test"]]
    assert len(set(train)) == len(train) == 60
    assert len(set(test)) == len(test) == 40
    assert not set(train) & set(test)


def test_an_exhausted_grammar_is_an_error_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "random_formula", lambda rng, max_depth: rng.choice(["a", "b", "c"]))
    monkeypatch.setattr(synthetic, "MAX_REPEATS", 50)
    with pytest.raises(ValueError, match="only 2 distinct test formulas of the 3 asked for"):
        generate(tmp_path, n_train=1, n_test=3, seed=0, dpi=72, font_size=10, max_depth=0)


def test_every_construct_of_the_grammar_appears() -> None:
    text = "\n".join(_formulas(11, 3, 300))
    tokens = set(text.split())
    constructs = {
        "fraction": r"\frac {" in text,
        "root": r"\sqrt {" in text,
        "n-th root": r"\sqrt [" in text,
        "superscript": "^ {" in text,
        "subscript": "_ {" in text,
        "greek": bool(tokens & set(GREEK)),
        "sum with limits": r"\sum _ {" in text,
        "product with limits": r"\prod _ {" in text,
        "integral with bounds": r"\int _ {" in text,
        "limit": r"\lim _ {" in text and r"\to" in tokens,
        "( )": r"\left (" in text and r"\right )" in text,
        "[ ]": r"\left [" in text and r"\right ]" in text,
        "binary operator": bool(tokens & set(BINARY_OPS)),
        "relation": bool(tokens & set(RELATIONS)),
        "digit": any(t.isdigit() for t in tokens),
        "latin letter": any(len(t) == 1 and t.isalpha() for t in tokens),
        **{f"accent {a}": f"{a} {{" in text for a in ACCENTS},
        **{f"function {f}": f in tokens for f in (r"\sin", r"\log", r"\exp")},
    }
    assert set(FUNCTIONS) >= {r"\sin", r"\log", r"\exp"}
    assert [name for name, seen in constructs.items() if not seen] == []


def test_formulas_are_normalised_and_katex_safe() -> None:
    for latex in _formulas(5, 3, 300):
        assert latex == " ".join(latex.split())
        assert all(len(t) == 1 or re.fullmatch(r"\\[a-zA-Z]+", t) for t in latex.split()), latex
        assert latex.count("{") == latex.count("}") and latex.count(r"\left") == latex.count(r"\right")
        assert not _double_script(latex), latex
    assert _double_script("x ^ { 2 } ^ { 3 }") and not _double_script(r"\hat { x } _ { i } ^ { 2 }")


def test_depth_grows_the_formulas() -> None:
    means = [statistics.mean(len(f.split()) for f in _formulas(2, d, 300)) for d in (1, 2, 3)]
    assert means[0] < means[1] < means[2]
    assert means[0] < 20  # depth 1 stays short (like `x ^ { 2 } + \alpha`)


def test_generated_formulas_render(tmp_path: Path) -> None:
    formulas = _formulas(13, 3, 60)
    assert all(render(f, tmp_path / f"{i}.png", 72, 10) for i, f in enumerate(formulas))


def test_images_open_and_are_black_on_white(tmp_path: Path) -> None:
    rows = generate(tmp_path, n_train=4, n_test=2, seed=1, dpi=100, font_size=12, max_depth=2)
    for row in rows["train"] + rows["test"]:
        with PIL_Image.open(row["image"]) as img:
            img.load()
            gray = img.convert("L")
        lo, hi = gray.getextrema()
        assert lo < 64 and hi == 255  # ink and paper
        assert gray.getpixel((0, 0)) == 255 and gray.getpixel((gray.width - 1, gray.height - 1)) == 255
        assert gray.width > 10 and gray.height > 10


def test_spaced_latex_renders_as_compact_latex(tmp_path: Path) -> None:
    # mathtext, unlike TeX, would take the space after ^ or _ as the script itself
    spaced, compact = tmp_path / "spaced.png", tmp_path / "compact.png"
    assert render(r"\sum _ { i = 1 } ^ { n } x _ { i } ^ { 2 }", spaced, 100, 12)
    assert render(r"\sum_{i=1}^{n}x_{i}^{2}", compact, 100, 12)
    assert spaced.read_bytes() == compact.read_bytes()


@pytest.mark.parametrize("latex", [r"\begin{pmatrix} a \end{pmatrix}", r"\boxed{x}", r"\underbrace{x}"])
def test_render_refuses_what_mathtext_rejects(tmp_path: Path, latex: str) -> None:
    path = tmp_path / "sub" / "x.png"
    assert render(latex, path, 100, 12) is False
    assert not path.exists()
