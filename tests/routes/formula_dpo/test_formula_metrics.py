"""Formula metrics against hand-checked cases, the KaTeX validity checker (real node +
katex), and the mining of preference pairs from scored predictions."""

from __future__ import annotations

import math

import pytest

from runtime.formula_dpo import katex, latex, metrics
from runtime.formula_dpo.mine import mistakes


def test_tokens_split_control_words_symbols_and_characters():
    assert latex.tokens(r"\frac{a}{b}") == ["\\frac", "{", "a", "}", "{", "b", "}"]
    assert latex.tokens(r"x_{12}\{\}") == ["x", "_", "{", "1", "2", "}", "\\{", "\\}"]
    assert latex.tokens(r"\operatorname*{max}") == ["\\operatorname*", "{", "m", "a", "x", "}"]
    assert latex.tokens("\\\\") == ["\\\\"]


def test_normalisation_drops_spacing_only_differences():
    assert latex.normalize(r"x^{2}+y") == latex.normalize(r"x ^ { 2 } + y") == "x ^ { 2 } + y"
    assert latex.normalize(r"a\,b\quad c~d\ e") == "a b c d e"
    assert latex.normalize(r"\frac{a}{b}") != latex.normalize(r"\frac{b}{a}")


def test_bleu_matches_the_hand_computed_geometric_mean():
    # 5 tokens, the last one wrong: n-gram precisions 4/5, 3/4, 2/3, 1/2; equal lengths (no brevity penalty)
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert metrics.corpus_bleu(["a b c d e"], ["a b c d f"]) == pytest.approx(expected, abs=1e-6)
    assert metrics.corpus_bleu([r"\frac{a}{b}"], [r"\frac { a } { b }"]) == 1.0
    assert metrics.sentence_bleu("a b c d e", "a b c d f") == pytest.approx(expected, abs=1e-6)


def test_bleu_brevity_penalty():
    # hypothesis 4 of the reference's 8 tokens, all 4-grams right: BLEU = exp(1 - 8/4) = e^-1
    assert metrics.corpus_bleu(["a b c d"], ["a b c d e f g h"]) == pytest.approx(math.exp(-1), abs=1e-6)


def test_edit_distance_is_over_tokens_and_normalised():
    assert metrics.edit_distance(r"\frac{a}{c}", r"\frac{a}{b}") == pytest.approx(1 / 7)
    assert metrics.edit_distance(r"\alpha", r"\beta") == 1.0  # one token each, not five letters
    assert metrics.edit_distance("x + y", "x+y") == 0.0
    assert metrics.edit_distance("", "x") == 1.0


def test_katex_accepts_valid_math_and_names_what_is_wrong():
    errors = katex.validity([r"\frac{a}{b}", r"\sum_{i=1}^{n} \hat{x}_i", r"\foo x", r"\left( x", r"\frac{a}",
                             r"x^{2", r"\sqrt[3]{x} \left[ y \right]"])
    assert errors[0] is None and errors[1] is None and errors[6] is None
    assert "Undefined control sequence" in errors[2]
    assert "right" in errors[3]
    assert errors[4] is not None and errors[5] is not None


def test_katex_checker_handles_many_batches_in_one_process():
    formulas = [f"x_{{{i}}}" if i % 3 else f"\\frac{{{i}}}" for i in range(1000)]
    with katex.KatexChecker() as checker:
        first = checker.check(formulas)
        again = checker.check(formulas[:10] + ["a\nb", '"quoted"'])
    assert sum(e is None for e in first) == len([i for i in range(1000) if i % 3])
    assert again[:10] == first[:10] and again[10] is None and again[11] is None


def test_error_classes():
    assert metrics.score("x+y", "x + y", None, True).error_class == "correct"
    assert metrics.score(r"\left( x", "x", "parse error", True).error_class == "invalid"
    assert metrics.score("y", "x", None, True).error_class == "valid_wrong"
    assert metrics.score("y", "x").valid is None  # validity not asked for


def test_summary_shares_add_up():
    preds, golds = ["x", "y", r"\left( x"], ["x", "x", "x"]
    scored = [metrics.score(p, g, e, True) for p, g, e in zip(preds, golds, [None, None, "bad"], strict=True)]
    s = metrics.summary(preds, golds, scored, ["exact_match", "validity", "edit_distance"])
    assert s["exact_match"] == pytest.approx(1 / 3) and s["validity"] == pytest.approx(2 / 3)
    assert s["share_correct"] + s["share_invalid"] + s["share_valid_wrong"] == pytest.approx(1.0)
    assert "bleu" not in s


def _row(gold, prediction, cls, samples=()):
    return {"gold": gold, "prediction": prediction, "error_class": cls, "valid": cls != "invalid",
            "samples": [{"text": t, "error_class": c, "valid": c != "invalid"} for t, c in samples]}


def test_mining_puts_unparseable_mistakes_first_and_deduplicates():
    row = _row("x^{2}", "x^{3}", "valid_wrong",
               [(r"x^{", "invalid"), ("x ^ { 3 }", "valid_wrong"), ("x^{2}", "correct"), ("", "invalid"),
                (r"\left( x", "invalid"), ("x ^ {2}", "valid_wrong")])
    picked = mistakes(row, per_image=5, unparseable_first=True)
    assert [c["text"] for c in picked] == [r"x^{", r"\left( x", "x^{3}"]  # empty, correct and duplicates dropped
    assert [c["source"] for c in picked] == ["sample", "sample", "greedy"]
    assert [c["text"] for c in mistakes(row, per_image=2, unparseable_first=False)] == ["x^{3}", r"x^{"]


def test_mining_keeps_only_the_kind_of_mistake_asked_for():
    row = _row("x^{2}", "x^{3}", "valid_wrong", [(r"x^{", "invalid"), ("y", "valid_wrong"), ("x^{2}", "correct")])
    assert [c["text"] for c in mistakes(row, 5, True, rejected="unparseable")] == [r"x^{"]
    assert [c["text"] for c in mistakes(row, 5, True, rejected="valid_wrong")] == ["x^{3}", "y"]
    assert [c["text"] for c in mistakes(row, 5, True, rejected="any")] == [r"x^{", "x^{3}", "y"]


def test_mining_skips_images_the_model_gets_right():
    assert mistakes(_row("x", "x", "correct", [("x", "correct")]), 3, True) == []


def test_mining_skips_images_whose_gold_formula_is_empty(tmp_path):
    import json

    from tests.launch_helpers import run_task

    rows = [_row("", "x", "valid_wrong"), _row("y", "x", "valid_wrong")]
    for r in rows:
        r["image"] = f"/{r['gold'] or 'empty'}.png"
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = run_task(tmp_path / "mine", "mine_pairs", {
        "predictions": str(tmp_path / "predictions.jsonl"), "prompt": "p",
        "mining": {"pairs_per_image": 1, "unparseable_first": True}},
        {"pairs": "pairs.jsonl", "metrics": "metrics.json"})
    assert done.returncode == 0, done.stderr
    pairs = [json.loads(x) for x in (tmp_path / "mine" / "pairs.jsonl").read_text().splitlines()]
    assert [(p["chosen"], p["rejected"], p["prompt"]) for p in pairs] == [("y", "x", "p")]
    assert json.loads((tmp_path / "mine" / "metrics.json").read_text())["skipped_empty_gold"] == 1
