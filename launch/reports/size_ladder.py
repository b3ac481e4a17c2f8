"""`labspec report` for size_ladder: the ladder drawn from the aggregate stage's ladder.json.
Per intervention, ability x model (smallest to largest) with standard errors; retention
(score / the largest model's); the gain of each intervention over plain decoding; the
oracle pass@n beside sampled interventions; the cost (generated tokens per question, wall
time). A heatmap per intervention and score-against-size lines, one per ability. With the
contamination probe: per size, the original vs twin score, the drop ± s.e., the Min-K% gap
and AUC, and the drop against size; with fluency: its figures per cell beside its row."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launch.jsonfile import read_object
from launch.ledger import RunRecord

TITLES = {"ladder_heatmap.png": "Score per ability and model, each intervention",
          "ladder_lines.png": "Score against model size (± standard error)",
          "ladder_contamination.png": "Drop from original to twin against model size (± standard error)"}


def _fmt(value: Any, se: Any = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.3f}" + (f" ± {se:.3f}" if isinstance(se, (int, float)) and not math.isnan(se) else "")


def _size(n: float) -> str:
    """Three significant figures, as a model card says them: 0.5B, 72B, 19.6k (not 19.616k)."""
    return f"{n / 1e9:.3g}B" if n >= 1e9 else f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k"


def section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    from launch.report import coordinates_of
    from launch.reports.tables import md_table

    agg = next((r for r in runs if coordinates_of(r).get("role") == "aggregate"), None)
    path = Path(agg.run_dir, "outputs", "ladder.json") if agg else None
    if path is None or not path.is_file():
        return "", []
    rows = (read_object(path) or {}).get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return f"## The ladder\n\n(no readable table in {path})\n", []
    models = sorted({(r["size"], r["model"]) for r in rows})
    interventions = list(dict.fromkeys(r["intervention"] for r in rows))
    abilities = sorted({r["ability"] for r in rows})
    cell = {(r["intervention"], r["ability"], r["model"]): r for r in rows}
    head = ["ability", *(f"{m} ({_size(s)})" for s, m in models)]

    def grid(iv: str, show: Callable[[dict[str, Any]], str], empty: str = "") -> str:
        """One intervention's ability x model table of `show(cell)`."""
        return md_table(head, [[a, *(show(cell[(iv, a, m)]) if (iv, a, m) in cell else empty for _, m in models)]
                               for a in abilities])

    lines = ["## The ladder", ""]
    for iv in interventions:
        lines += [f"### {iv}: score ± standard error", "", grid(iv, lambda c: _fmt(c["score"], c["stderr"]), "n/a"),
                  f"Retention ({iv}: score / the largest model's)", "", grid(iv, lambda c: _fmt(c["retention"]))]
        if any(r["gain"] is not None for r in rows if r["intervention"] == iv):
            lines += [f"Gain of {iv} over plain decoding", "", grid(iv, lambda c: _fmt(c["gain"], c["gain_stderr"]))]
        if any(r["pass_at_n"] is not None for r in rows if r["intervention"] == iv):
            lines += [f"Oracle pass@n ({iv}: any of the n samples right; the gap to the score is the "
                      "vote's or verifier's)", "", grid(iv, lambda c: _fmt(c["pass_at_n"]))]
    cost = []
    for iv in interventions:
        first = {m: next((r for r in rows if r["intervention"] == iv and r["model"] == m), None) for _, m in models}
        cost.append([iv, *(f"{_fmt(r['tokens_per_question'])} / {r['wall_seconds']:.0f} s"
                           if r and r["wall_seconds"] is not None else "" for r in first.values())])
    lines += ["### Cost: generated tokens per question / wall seconds per cell", "",
              md_table(["intervention", *(m for _, m in models)], cost)]
    ladder = read_object(path) or {}
    contaminated = _contamination(ladder.get("contamination"), lines)
    _fluency(ladder.get("fluency"), lines)
    images = _plots(rows, models, interventions, abilities, out)
    if contaminated:
        images.append(_drop_plot(ladder["contamination"], out))
    return "\n".join(lines) + "\n", images


def _listed(found: Any) -> list[dict[str, Any]]:
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _contamination(found: Any, lines: list[str]) -> int:
    """The contamination section: per cell, original vs twin, the drop, and Min-K% (plain cells)."""
    from launch.reports.tables import md_table

    rows = sorted(_listed(found), key=lambda r: (str(r["intervention"]), float(r["size"])))
    if not rows:
        return 0
    lines += ["## Contamination", "",
              "Each question of the twin set has its numbers changed and its answer recomputed through the worked "
              "steps, so a model cannot have seen it. Drop = original - twin (± s.e., the two scores taken as "
              "independent). Min-K%: the mean of a question's lowest 20% token log-probabilities; gap = original - "
              "twin, AUC of telling originals from twins by it (0.5: no sign of memorisation).", "",
              md_table(["intervention", "model", "size", "original", "twin", "drop", "Min-K% gap", "AUC"],
                       [[r["intervention"], r["model"], _size(float(r["size"])),
                         _fmt(r.get("contamination_original"), r.get("contamination_original_stderr")),
                         _fmt(r.get("contamination_twin"), r.get("contamination_twin_stderr")),
                         _fmt(r.get("contamination_drop"), r.get("contamination_drop_stderr")),
                         _fmt(r.get("min_k_gap"), r.get("min_k_gap_stderr")), _fmt(r.get("min_k_auc"))]
                        for r in rows])]
    return len(rows)


def _fluency(found: Any, lines: list[str]) -> None:
    """The fluency figures per cell (its score is a row of the ladder's tables)."""
    from launch.reports.tables import md_table

    rows = sorted(_listed(found), key=lambda r: (str(r["intervention"]), float(r["size"])))
    if not rows:
        return
    lines += ["## Fluency", "",
              "The `fluency` row of the ladder is per answer the mean of its distinct bigrams, 1 - its 4-gram "
              "repetition and 1 if it ended before the token limit. Perplexities: of the answers under the judge "
              "model, and of the model on the human-written text (plain cells).", "",
              md_table(["intervention", "model", "distinct-2", "repetition", "cut off", "judge ppl", "text ppl"],
                       [[r["intervention"], r["model"], _fmt(r.get("distinct_2")), _fmt(r.get("repetition")),
                         _fmt(r.get("cut_off")), _fmt(r.get("judge_perplexity")), _fmt(r.get("text_perplexity"))]
                        for r in rows])]


def _drop_plot(found: Any, out: Path) -> Path:
    from launch.reports import figures

    rows = _listed(found)
    fig, axes = figures.panels(1, max_cols=1, panel_in=(4.4, 3.0))
    ax = axes[0]
    for iv in dict.fromkeys(r["intervention"] for r in rows):
        pts = sorted((float(r["size"]), r["contamination_drop"], r["contamination_drop_stderr"]) for r in rows
                     if r["intervention"] == iv and r.get("contamination_drop") is not None)
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", label=iv,
                    capsize=2)
    sizes = sorted({float(r["size"]) for r in rows})
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(xscale="log", xlabel="parameters", ylabel="original - twin")
    ax.set_xticks(sizes, [_size(s) for s in sizes], fontsize=7)
    ax.minorticks_off()
    figures.legend(ax)
    return figures.save(fig, out / "ladder_contamination.png")


def _plots(rows: list[dict[str, Any]], models: list[tuple[float, str]], interventions: list[str],
           abilities: list[str], out: Path) -> list[Path]:
    from launch.reports import figures

    cell = {(r["intervention"], r["ability"], r["model"]): r for r in rows}
    written = []
    fig, axes = figures.panels(len(interventions), max_cols=2, panel_in=(4.4, 0.45 * len(abilities) + 1.4))
    for i, (ax, iv) in enumerate(zip(axes, interventions, strict=True)):
        grid = [[cell[(iv, a, m)]["score"] if (iv, a, m) in cell else float("nan") for _, m in models]
                for a in abilities]
        ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(models)), [_size(s) for s, _ in models], fontsize=7, rotation=45)
        ax.set_yticks(range(len(abilities)), abilities if i % 2 == 0 else [""] * len(abilities), fontsize=7)
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if v < 0.5 else "k")
        ax.set_title(iv, fontsize=9)
    written.append(figures.save(fig, out / "ladder_heatmap.png"))
    fig, axes = figures.panels(len(interventions), max_cols=3, panel_in=(3.0, 2.8))
    for ax, iv in zip(axes, interventions, strict=True):
        for a in abilities:
            pts = [(s, cell[(iv, a, m)]["score"], cell[(iv, a, m)]["stderr"]) for s, m in models if (iv, a, m) in cell]
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o",
                            label=a, capsize=2)
        ax.set(xscale="log", xlabel="parameters", title=iv, ylim=(0, 1))
        ax.set_xticks([s for s, _ in models], [_size(s) for s, _ in models], fontsize=7)
        ax.minorticks_off()
        figures.legend(ax)
    written.append(figures.save(fig, out / "ladder_lines.png"))
    return written
