"""`labspec report` for GRPO (the grpo kind, and the reasoning route's GRPO stage): a
table of each GRPO run's reward (first and last tenth of the steps, all of them), each reward function's
mean, the share of groups whose answers all scored the same (they give no gradient),
answer length, KL and the clipped share, with the held-out scores of the model it
trained; and a plot of the reward and the zero-variance share per step, read from the
run's TensorBoard events."""

from __future__ import annotations

from pathlib import Path

from launch.ledger import RunRecord

COLUMNS = (("reward_first", "reward, first 10%"), ("reward_last", "reward, last 10%"), ("reward", "reward mean"),
           ("answer_reward", "answer reward"), ("format_reward", "format reward"),
           ("frac_reward_zero_std", "zero-variance groups"), ("completion_length", "length"), ("kl", "KL"),
           ("clip_ratio", "clipped"))
HELD_OUT = (("greedy_accuracy", "greedy acc"), ("majority_accuracy", "majority acc"))
TITLES = {"grpo_rewards.png": "GRPO: reward and groups without reward variance, per step"}
CURVES = (("train/reward", "reward"), ("train/frac_reward_zero_std", "zero-variance groups"))


def is_grpo(run: RunRecord) -> bool:
    return run.stage == "grpo"


def part(runs: list[RunRecord], out: Path) -> tuple[list[str], list[Path]]:
    """The GRPO table and plot, for any kind whose plan has grpo runs; the held-out columns
    come from the evaluate run that depends on each GRPO run."""
    from launch.report import final_metrics, point_label, varying_axes
    from launch.reports.tables import md_table

    trained = [r for r in runs if is_grpo(r)]
    if not trained:
        return [], []
    varying = varying_axes(runs)
    rows = []
    for run in trained:
        m = final_metrics(run.run_dir)
        evaluated = next((final_metrics(e.run_dir) for e in runs if e.stage == "evaluate" and run.id in e.depends_on),
                         {})
        rows.append([point_label(run, varying), *(f"{m[k]:.4g}" if k in m else "" for k, _ in COLUMNS),
                     *(f"{evaluated[k]:.4g}" if k in evaluated else "" for k, _ in HELD_OUT)])
    lines = ["## GRPO", "", "Means over the logged steps; held-out scores of the model GRPO trained.", "",
             md_table(["grid point", *(label for _, label in COLUMNS), *(label for _, label in HELD_OUT)], rows,
                      keep=1)]
    return lines, _plot(trained, varying, out)


def section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    lines, images = part(runs, out)
    return ("\n".join(lines) + "\n" if lines else ""), images


def _plot(trained: list[RunRecord], varying: dict[str, list[object]], out: Path) -> list[Path]:
    from launch.report import curves, point_label
    from launch.reports import figures

    drawn = False
    fig, axes = figures.panels(len(CURVES), max_cols=2, panel_in=(4.0, 3.0))
    for ax, (tag, title) in zip(axes, CURVES, strict=True):
        for run in trained:
            points = curves(run.run_dir, tag)
            if points:
                drawn = True
                ax.plot([s for s, _ in points], [v for _, v in points], "-", label=point_label(run, varying))
        ax.set(xlabel="step", title=title)
        figures.integer_x(ax)
        figures.legend(ax)
    if not drawn:
        figures.pyplot().close(fig)
        return []
    return [figures.save(fig, out / "grpo_rewards.png")]
