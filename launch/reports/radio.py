"""`labspec report` for radio: the encoder table (the student's fidelity to each teacher, and
kNN / linear-probe accuracy of the student's summary heads beside every teacher's) and the
MLLM comparison (held-out exact match of the LLaVA-style model on each encoder variant)."""

from __future__ import annotations

from pathlib import Path

from launch.ledger import RunRecord

TITLES = {"radio_mllm_variants.png": "MLLM exact match by vision encoder"}


def section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    from launch.report import coordinates_of, final_metrics, point_label, varying_axes
    from launch.reports.tables import md_table

    varying = varying_axes(runs)

    def _point(run: RunRecord) -> str:
        return point_label(run, varying)

    lines: list[str] = []
    for run in runs:
        if coordinates_of(run).get("role") != "evaluate_encoder":
            continue
        m = final_metrics(run.run_dir)
        teachers = sorted({k.split("/")[1] for k in m if k.startswith("fidelity/")})
        if teachers:
            lines += [f"## Student fidelity to each teacher ({_point(run)})", "",
                      "Cosine similarity of the student's adapted outputs to the teacher's, held-out images; "
                      "baseline: the teacher's mean output over the training images, whatever the image.", "",
                      md_table(["teacher", "summary", "summary baseline", "features", "features baseline"],
                               [[t, *(_fmt(m.get(f"fidelity/{t}/{k}")) for k in (
                                   "summary", "summary_mean_baseline", "features", "features_mean_baseline"))]
                                for t in teachers])]
        encoders = sorted({k.split("/", 1)[1] for k in m if k.startswith(("knn/", "linear/"))},
                          key=lambda e: (not e.startswith("student"), e))
        if encoders:
            lines += ["## Encoders on frozen summary features", "",
                      "`student` is the student's own summary tokens side by side (what a model built on it "
                      "sees); `student:T` is its adapted summary head for teacher T.", "",
                      md_table(["encoder", "kNN (k=20)", "linear probe"],
                               [[e, _fmt(m.get(f"knn/{e}")), _fmt(m.get(f"linear/{e}"))] for e in encoders])]
    variants = [(str(c["variant"]), _point(r), final_metrics(r.run_dir)) for r in runs
                if (c := coordinates_of(r)).get("role") == "evaluate" and c.get("variant")]
    images: list[Path] = []
    if variants:
        questions = sorted({k for _, _, m in variants for k in m if k.startswith("exact_match/")})
        lines += ["## MLLM on each encoder variant", "",
                  md_table(["variant", "grid point", "exact match", *(q.split("/", 1)[1] for q in questions)],
                           [[v, p, _fmt(m.get("exact_match")), *(_fmt(m.get(q)) for q in questions)]
                            for v, p, m in variants], keep=2)]
        images = _plot(variants, out)
    return "\n".join(lines) + ("\n" if lines else ""), images


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _plot(variants: list[tuple[str, str, dict[str, float]]], out: Path) -> list[Path]:
    from launch.reports import figures

    width = min(figures.MAX_WIDTH_IN, max(4.0, 1.2 * len(variants)))
    fig, (ax,) = figures.panels(1, panel_in=(width, 3.2))
    labels = [v if p == "-" else f"{v}\n{p}" for v, p, _ in variants]
    ax.bar(labels, [m.get("exact_match", 0.0) for _, _, m in variants])
    ax.set(ylim=(0, 1), ylabel="exact match", title="MLLM by vision encoder")
    if len(variants) > 6:
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    return [figures.save(fig, out / "radio_mllm_variants.png")]
