"""`labspec report` for reasoning: one row per bootstrap iteration (row 0: the base model,
few-shot) with coverage, yield, distinct chains per question, the share from
rationalisation, data size, SFT loss and held-out greedy / majority accuracy; the planner +
solver comparison; a plot of accuracy and coverage against the iteration."""

from __future__ import annotations

from pathlib import Path

from launch.ledger import RunRecord

FILTER = (("data_size", "data"), ("coverage", "coverage"), ("yield", "yield"),
          ("distinct_per_question", "distinct/q"), ("rationalization_share", "rationalised"))
EVAL = (("greedy_accuracy", "greedy acc"), ("majority_accuracy", "majority acc"))
TITLES = {"reasoning_iterations.png": "Bootstrap: held-out accuracy and training data per model"}


def section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    from launch.report import coordinates_of, final_metrics, point_label, varying_axes
    from launch.reports.tables import md_table

    varying = varying_axes(runs)
    table: dict[tuple[str, int], dict[str, float]] = {}
    plan: list[tuple[str, dict[str, float]]] = []
    for run in runs:
        c = coordinates_of(run)
        role, iteration = c.get("role"), c.get("iteration")
        m = final_metrics(run.run_dir)
        if role == "plan_solve":
            plan.append((point_label(run, varying), m))
            continue
        if iteration is None and role != "evaluate":
            continue  # the planner's SFT
        step = iteration + 1 if iteration is not None else 0
        row = table.setdefault((point_label(run, varying), step), {})
        if role == "filter":
            row.update({label: m[key] for key, label in FILTER if key in m})
        elif role == "train" and "train_loss" in m:
            row["sft loss"] = m["train_loss"]
        elif role == "evaluate":
            row.update({label: m[key] for key, label in EVAL if key in m})
            row.update({f"pass@{k.split('_')[-1]}": v for k, v in m.items() if k.startswith("pass_at_")})
    if not table:
        return "", []
    columns = [label for _, label in FILTER] + ["sft loss"] + [label for _, label in EVAL]
    columns += sorted({k for row in table.values() for k in row if k.startswith("pass@")})
    lines = ["## Bootstrap iterations", "", "Row t+1: the data sampled by model t and the model trained on it; "
             "row 0: the base model (few-shot).", "",
             md_table(["grid point", "model", *columns],
                      [[point, str(step), *(f"{row[c]:.4g}" if c in row else "" for c in columns)]
                       for (point, step), row in sorted(table.items())], keep=2)]
    for point, m in plan:
        lines += [f"## Planner + solver ({point})", "",
                  md_table(["solver alone", "solver with plan", "plans accepted", "rescued", "hurt", "planner tokens",
                            "solver tokens alone", "solver tokens with plan"],
                           [[f"{m.get(k, float('nan')):.3g}" for k in (
                               "solver_accuracy", "solver_with_plan_accuracy", "plan_acceptance", "rescued", "hurt",
                               "planner_tokens", "solver_tokens_alone", "solver_tokens_with_plan")]], keep=0)]
    return "\n".join(lines) + "\n", _plot(table, out)


def _plot(table: dict[tuple[str, int], dict[str, float]], out: Path) -> list[Path]:
    from launch.reports import figures

    fig, axes = figures.panels(2, max_cols=2, panel_in=(4.0, 3.2))
    for point in sorted({p for p, _ in table}):
        for ax, keys in zip(axes, (("greedy acc", "majority acc"), ("coverage", "yield")), strict=True):
            for key in keys:
                xs = sorted((s, row[key]) for (p, s), row in table.items() if p == point and key in row)
                if xs:
                    ax.plot([s for s, _ in xs], [v for _, v in xs], "o-", label=key if point == "-" else
                            f"{key} ({point})")
    for ax, title in zip(axes, ("held-out accuracy", "training data"), strict=True):
        ax.set(xlabel="model (0 = base)", title=title, ylim=(0, 1))
        figures.integer_x(ax)
        figures.legend(ax)
    return [figures.save(fig, out / "reasoning_iterations.png")]
