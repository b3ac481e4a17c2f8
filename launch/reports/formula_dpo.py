"""`labspec report` for formula_dpo: the SFT model and the DPO model side by side, per
split (and UniMER-Test subset), with KaTeX validity next to the accuracy metrics and the
number of preference pairs mined; a bar chart of before/after on the test split."""

from __future__ import annotations

from pathlib import Path

from launch.jsonfile import numbers, read_object
from launch.ledger import RunRecord

METRICS = (("bleu", "BLEU ↑"), ("edit_distance", "edit distance ↓"), ("exact_match", "exact match ↑"),
           ("validity", "validity (KaTeX) ↑"))
MODELS = {0: "SFT", 1: "DPO"}  # an evaluation's model index
TITLES = {"formula_before_after.png": "Test split: SFT vs DPO"}


def _cell(metrics: dict[str, float], key: str) -> str:
    return f"{metrics[key]:.3f}" if key in metrics else ""


def section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    from launch.report import coordinates_of, final_metrics, point_label, varying_axes
    from launch.reports.tables import md_table

    varying = varying_axes(runs)

    def _point(run: RunRecord) -> str:
        return point_label(run, varying)

    rows: list[tuple[str, str, str, str, dict[str, float]]] = []  # split, subset, model, point, metrics
    for run in runs:
        c = coordinates_of(run)
        if c.get("role") != "evaluate":
            continue
        split, model = str(c.get("split")), MODELS.get(int(c.get("model_index") or 0), "?")
        m = final_metrics(run.run_dir)
        counted = numbers(read_object(Path(run.run_dir, "outputs", "metrics.json"))).get("samples")
        rows.append((split, "all", model, _point(run), m if counted is None else {**m, "samples": counted}))
        for subset in sorted({k.split("/")[0] for k in m if "/" in k and not k.startswith("delta/")}):
            rows.append((split, subset, model, _point(run), {k.split("/", 1)[1]: v for k, v in m.items()
                                                              if k.startswith(subset + "/")}))
    rows.sort(key=lambda r: (r[0] != "test", r[1] != "all", r[1], r[3], r[2] != "SFT"))
    header = ["split", "subset", "model", "grid point", *(label for _, label in METRICS), "samples"]
    cells = [[split, subset, model, point, *(_cell(m, k) for k, _ in METRICS),
              str(int(m["samples"])) if "samples" in m else ""] for split, subset, model, point, m in rows]
    lines = ["## Before and after DPO", "", md_table(header, cells, keep=4)]
    mined = [(r, final_metrics(r.run_dir)) for r in runs if coordinates_of(r).get("role") == "pairs"]
    for run, m in mined:
        if "pairs" in m:
            lines.append(f"\nPairs mined ({_point(run)}): {int(m['pairs'])} from "
                         f"{int(m.get('images_with_pairs', 0))} of {int(m.get('images', 0))} training images; "
                         f"rejected answers: {int(m.get('rejected_invalid', 0))} unparseable, "
                         f"{int(m.get('rejected_valid_wrong', 0))} valid but wrong.")
    if any(r[4].get("gold_validity", 1.0) < 1.0 for r in rows):
        lines.append("\nSome gold formulas do not parse in KaTeX either (gold_validity in the metrics): "
                     "validity above that share is not reachable.")
    images = _plot([(r[2], r[3], r[4]) for r in rows if r[0] == "test" and r[1] == "all"], out)
    return "\n".join(lines) + "\n", images


def _plot(results: list[tuple[str, str, dict[str, float]]], out: Path) -> list[Path]:
    if not results:
        return []
    from launch.reports import figures

    keys = [k for k, _ in METRICS if any(k in m for _, _, m in results)]
    fig, (ax,) = figures.panels(1, panel_in=(7, 3.5))
    width = 0.8 / len(results)
    for i, (model, point, m) in enumerate(results):
        ax.bar([j + i * width for j in range(len(keys))], [m.get(k, 0.0) for k in keys], width,
               label=model if point == "-" else f"{model} ({point})")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], [dict(METRICS)[k] for k in keys], fontsize=8)
    ax.set(ylim=(0, 1), title="test split: SFT vs DPO")
    figures.legend(ax)
    return [figures.save(fig, out / "formula_before_after.png")]
