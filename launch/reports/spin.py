"""`labspec report` for spin: one row per iteration (per grid point) with the held-out
metrics of the model it produced (row 0: the model SPIN began from), the data it trained
on and the rewards TRL measured; a figure with a panel per held-out metric, the reward
margin, the preference accuracy, the rewards of real and generated answers, and the pairs."""

from __future__ import annotations

from pathlib import Path

from launch.ledger import RunRecord

TRAIN = (("rewards/margins", "margin"), ("rewards/accuracies", "reward accuracy"), ("rewards/chosen", "reward real"),
         ("rewards/rejected", "reward generated"), ("train_loss", "loss"))
SKIP_EVAL = ("primary_metric", "samples")
# panels beside the held-out metrics: (title, ((column, line label), ...))
PANELS = (("reward margin (real - generated)", (("margin", ""),)),
          ("preference accuracy", (("reward accuracy", ""),)),
          ("rewards", (("reward real", "real"), ("reward generated", "generated"))),
          ("pairs trained on", (("pairs", "all"), ("new pairs", "new this iteration"))))
STYLES = ("o-", "s--")  # the lines of one panel (real / generated rewards) stay apart where they meet
TITLES = {"spin_iterations.png": "SPIN: held-out metrics, rewards and pairs per model"}


def section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    from launch.report import coordinates_of, final_metrics, point_label, varying_axes
    from launch.reports.tables import md_table

    varying = varying_axes(runs)
    table: dict[tuple[str, int], dict[str, float]] = {}  # (grid point, model index; 0 = start) -> figures
    for run in runs:
        c = coordinates_of(run)
        role, iteration = c.get("role"), c.get("iteration")
        if iteration is None and role != "evaluate":
            continue  # the SFT that SPIN starts from
        step = iteration + 1 if iteration is not None else int(c.get("model_index") or 0)
        m = final_metrics(run.run_dir)
        row = table.setdefault((point_label(run, varying), step), {})
        if role == "pairs":
            row.update({"pairs": m.get("pairs", float("nan")), "new pairs": m.get("new_pairs", float("nan"))})
        elif role == "train":
            row.update({label: m[key] for key, label in TRAIN if key in m})
        elif role == "evaluate":
            row.update({f"heldout {k}": v for k, v in m.items() if k not in SKIP_EVAL})
        elif role == "generate" and "tokens_per_second" in m:
            row["gen tokens/s"] = m["tokens_per_second"]
    if not table:
        return "", []
    # held-out figures first: what the iterations are for, and in the first part of a split table
    columns = sorted({k for row in table.values() for k in row if k.startswith("heldout ")})
    columns += ["pairs", "new pairs", "margin", "reward accuracy", "reward real", "reward generated", "loss"]
    columns += ["gen tokens/s"] if any("gen tokens/s" in row for row in table.values()) else []
    rows = [[point, str(step), *(f"{row[c]:.4g}" if c in row else "" for c in columns)]
            for (point, step), row in sorted(table.items())]
    lines = ["## SPIN per iteration", "", "Iteration t trains model t+1 against model t; row 0 is the start.", "",
             md_table(["grid point", "model", *columns], rows, keep=2)]
    return "\n".join(lines) + "\n", _plot(table, out)


def _plot(table: dict[tuple[str, int], dict[str, float]], out: Path) -> list[Path]:
    from launch.reports import figures

    heldout = sorted({k for row in table.values() for k in row if k.startswith("heldout ")})
    panels: list[tuple[str, tuple[tuple[str, str], ...]]] = [
        (key.replace("heldout", "held-out"), ((key, ""),)) for key in heldout]
    panels += [(title, lines) for title, lines in PANELS if any(c in row for c, _ in lines for row in table.values())]
    points = sorted({p for p, _ in table})
    models = [s for _, s in table]
    span = (min(models) - 0.3, max(models) + 0.3)  # one x range on every panel: model t lines up
    fig, axes = figures.panels(len(panels), max_cols=3, panel_in=(3.0, 2.5))
    for ax, (title, lines) in zip(axes, panels, strict=True):
        values = []
        for point in points:
            for i, (column, name) in enumerate(lines):
                xs = sorted((s, row[column]) for (p, s), row in table.items() if p == point and column in row)
                if xs:
                    label = ", ".join(x for x in (name, "" if point == "-" else point) if x)
                    ax.plot([s for s, _ in xs], [v for _, v in xs], STYLES[i % len(STYLES)], label=label or None,
                            markerfacecolor="none" if i else None)  # hollow: an equal value shows both
                    values += [v for _, v in xs]
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("model (0 = start)", fontsize=8)
        ax.set_xlim(*span)
        figures.integer_x(ax)
        figures.style_y(ax, values)
        figures.legend(ax)
    return [figures.save(fig, out / "spin_iterations.png")]
