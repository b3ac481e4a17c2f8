"""`labspec report` for spin: one row per iteration (per grid point) with the data it
trained on, the reward margin and accuracy TRL measured, and the held-out metrics of the
model it produced (row "start": the model SPIN began from); plots of the held-out metric
and the margin against the iteration."""

from __future__ import annotations

from pathlib import Path

from launch.ledger import RunRecord

TRAIN = (("rewards/margins", "margin"), ("rewards/accuracies", "accuracy"), ("rewards/chosen", "reward real"),
         ("rewards/rejected", "reward generated"), ("train_loss", "loss"))
SKIP_EVAL = ("primary_metric", "samples")


def section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    from launch.report import coordinates_of, final_metrics, point_label

    table: dict[tuple[str, int], dict[str, float]] = {}  # (grid point, model index; 0 = start) -> figures
    for run in runs:
        c = coordinates_of(run)
        role, iteration = c.get("role"), c.get("iteration")
        if iteration is None and role != "evaluate":
            continue  # the SFT that SPIN starts from
        step = iteration + 1 if iteration is not None else int(c.get("model_index") or 0)
        m = final_metrics(run.run_dir)
        row = table.setdefault((point_label(run), step), {})
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
    columns = ["pairs", "new pairs", "margin", "accuracy", "reward real", "reward generated", "loss"]
    columns += sorted({k for row in table.values() for k in row if k.startswith("heldout ")})
    columns += ["gen tokens/s"] if any("gen tokens/s" in row for row in table.values()) else []
    lines = ["## SPIN per iteration", "", "Iteration t trains model t+1 against model t; row 0 is the start.", "",
             "| grid point | model | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 2)]
    for (point, step), row in sorted(table.items()):
        cells = [f"{row[c]:.4g}" if c in row else "" for c in columns]
        lines.append(f"| {point} | {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", _plot(table, out)


def _plot(table: dict[tuple[str, int], dict[str, float]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heldout = sorted({k for row in table.values() for k in row if k.startswith("heldout ")})
    panels = [*heldout, "margin"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        for point in sorted({p for p, _ in table}):
            xs = sorted((s, row[key]) for (p, s), row in table.items() if p == point and key in row)
            if xs:
                ax.plot([s for s, _ in xs], [v for _, v in xs], "o-", label=point)
        ax.set(xlabel="model (0 = start)", title=key)
        ax.legend(fontsize=7)
    path = out / "spin_iterations.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [path]
