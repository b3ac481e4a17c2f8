"""`labspec report` for reasoning: one row per bootstrap iteration (row 0: the base model,
few-shot) with coverage, yield, distinct chains per question, the share from
rationalisation, data size, SFT loss and held-out greedy / majority accuracy (the GRPO
model, if any, as the last row, with its mean reward); a plot of accuracy and coverage
against the iteration; the GRPO section (launch/reports/grpo.py); the small model beside
the large one: every arm's accuracy and tokens per question, the verifier against the
checker, and a plot of accuracy against the large model's tokens (the trade-off the arms
exist for)."""

from __future__ import annotations

from pathlib import Path

from launch.ledger import RunRecord
from launch.reports import grpo

FILTER = (("data_size", "data"), ("coverage", "coverage"), ("yield", "yield"),
          ("distinct_per_question", "distinct/q"), ("rationalization_share", "rationalised"))
EVAL = (("greedy_accuracy", "greedy acc"), ("majority_accuracy", "majority acc"))
ARMS = (("small", "small alone"), ("large", "large alone"), ("plan_solve", "plan + solve"),
        ("solve_verify", "solve + verify"))
# metrics written before the arms had their own keys
LEGACY = {"large_accuracy": "solver_accuracy", "large_large_tokens": "solver_tokens_alone",
          "plan_solve_accuracy": "solver_with_plan_accuracy", "plan_solve_small_tokens": "planner_tokens",
          "plan_solve_large_tokens": "solver_tokens_with_plan"}
PLAN_FIGURES = (("plan_acceptance", "plans accepted"), ("rescued", "rescued"), ("hurt", "hurt"))
VERIFY_FIGURES = (("verifier_precision", "precision"), ("verifier_recall", "recall"),
                  ("verify_rounds_used", "retries per question"),
                  ("verify_large_answered", "answered by the large model"))
TITLES = {"reasoning_iterations.png": "Bootstrap: held-out accuracy and training data per model",
          "reasoning_tradeoff.png": "Small model beside the large one: accuracy against the large model's tokens",
          **grpo.TITLES}


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
        elif role == "grpo" and "reward" in m:
            row["grpo reward"] = m["reward"]
        elif role == "evaluate":
            row.update({label: m[key] for key, label in EVAL if key in m})
            row.update({f"pass@{k.split('_')[-1]}": v for k, v in m.items() if k.startswith("pass_at_")})
    if not table:
        return "", []
    trained = ["sft loss", *(["grpo reward"] if any("grpo reward" in row for row in table.values()) else [])]
    columns = [label for _, label in FILTER] + trained + [label for _, label in EVAL]
    columns += sorted({k for row in table.values() for k in row if k.startswith("pass@")})
    lines = ["## Bootstrap iterations", "", "Row t+1: the data sampled by model t and the model trained on it; "
             "row 0: the base model (few-shot); after the iterations, the GRPO model.", "",
             md_table(["grid point", "model", *columns],
                      [[point, str(step), *(f"{row[c]:.4g}" if c in row else "" for c in columns)]
                       for (point, step), row in sorted(table.items())], keep=2)]
    grpo_lines, grpo_images = grpo.part(runs, out)
    lines += ["", *grpo_lines] if grpo_lines else []
    for point, m in plan:
        lines += planner_solver(point, m)
    images = _plot(table, out) + grpo_images
    if plan:
        images.append(_tradeoff(plan, out))
    return "\n".join(lines) + "\n", images


def arm_figures(m: dict[str, float]) -> list[tuple[str, float, float, float]]:
    """(arm, accuracy, small tokens / question, large tokens / question) of the arms the run
    had; small alone costs the large model nothing, large alone the small model nothing."""
    m = {**{new: m[old] for new, old in LEGACY.items() if old in m}, **m}
    m.setdefault("small_large_tokens", 0.0)
    m.setdefault("large_small_tokens", 0.0)
    return [(label, m[f"{key}_accuracy"], m.get(f"{key}_small_tokens", float("nan")),
             m.get(f"{key}_large_tokens", float("nan"))) for key, label in ARMS if f"{key}_accuracy" in m]


def figures_line(m: dict[str, float], figures: tuple[tuple[str, str], ...]) -> str:
    """'label value, ...'; n/a where the run has no number (a precision with no chain accepted)."""
    return ", ".join(f"{label} {m[key]:.3g}" if key in m else f"{label} n/a" for key, label in figures)


def planner_solver(point: str, m: dict[str, float]) -> list[str]:
    """The section of one plan_solve run: a row per arm, then the plan and verify modes' own figures."""
    from launch.reports.tables import md_table

    lines = [f"## Planner + solver ({point})", "",
             md_table(["arm", "accuracy", "small tokens / question", "large tokens / question"],
                      [[label, *(f"{v:.3g}" for v in values)] for label, *values in arm_figures(m)])]
    if "plan_acceptance" in m:
        lines.append(f"Plan mode: {figures_line(m, PLAN_FIGURES)}.\n")
    if "verify_rounds_used" in m:
        lines.append("Verify mode, the verifier against the checker over every checked chain (positive: the chain's "
                     f"answer is right): {figures_line(m, VERIFY_FIGURES)}.\n")
    return lines


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


def _tradeoff(plan: list[tuple[str, dict[str, float]]], out: Path) -> Path:
    """Accuracy against the large model's tokens per question, a labelled point per arm (a
    colour per grid point): the arms worth having sit up and to the left."""
    import math

    from launch.reports import figures

    fig, axes = figures.panels(1, max_cols=1, panel_in=(5.5, 3.6))
    ax = axes[0]
    for point, m in plan:
        found = [(label, acc, large) for label, acc, _, large in arm_figures(m) if math.isfinite(large)]
        dots = ax.plot([x for _, _, x in found], [y for _, y, _ in found], "o", label=point)
        for label, acc, large in found:
            ax.annotate(label, (large, acc), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color=dots[0].get_color())
    ax.set(xlabel="large-model tokens per question (generated)", ylabel="held-out accuracy", ylim=(0, 1.05))
    ax.margins(x=0.12)  # room for the labels, and small alone's point at 0 drawn whole
    figures.legend(ax)
    return figures.save(fig, out / "reasoning_tradeoff.png")
