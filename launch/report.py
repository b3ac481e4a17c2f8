"""`labspec report`: every run's final metrics against its swept values, as a Markdown
table, plus PNG plots (each metric against each swept axis; training curves read back
from the TensorBoard events). matplotlib and tensorboard load only here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from launch.jsonfile import numbers, read_object
from launch.ledger import RunRecord

SKIP = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "epoch",
        # counters and bookkeeping, not results
        "samples", "prompts", "shards", "samples_per_prompt", "world_size", "restarts", "steps", "expected_total")


def final_metrics(run_dir: str) -> dict[str, float]:
    return {k: v for k, v in numbers(read_object(Path(run_dir, "outputs", "metrics.json"))).items() if k not in SKIP}


def file_name(text: str, suffix: str, limit: int = 120) -> str:
    """A file name from any text (a metric may hold '/', NUL or 300 characters)."""
    import hashlib

    name = re.sub(r"[^A-Za-z0-9._=+-]+", "_", text)
    if len(name) > limit:
        name = f"{name[:limit - 11]}-{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:10]}"
    return name + suffix


def coordinates_of(run: RunRecord) -> dict[str, Any]:
    """A run's place in its experiment (specs.tasks.Coordinates): from the ledger, else from
    its run.json (runs recorded before the ledger kept them)."""
    if run.coordinates:
        return run.coordinates
    found = (read_object(Path(run.run_dir, "run.json")) or {}).get("coordinates")
    return found if isinstance(found, dict) else {}


def point_label(run: RunRecord) -> str:
    """The grid point a run belongs to, as "key=value, ..." ("-" without a sweep)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(axes_of(run.run_dir).items())) or "-"


def axes_of(run_dir: str) -> dict[str, Any]:
    axes = (read_object(Path(run_dir, "run.json")) or {}).get("axes")
    return axes if isinstance(axes, dict) else {}


def table(runs: list[RunRecord]) -> str:
    axes = sorted({k for r in runs for k in axes_of(r.run_dir)})
    metric_names = sorted({k for r in runs for k in final_metrics(r.run_dir)})
    header = ["run", "stage", "state", *axes, *metric_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    names = [r.name for r in runs]
    for r in runs:
        ax, met = axes_of(r.run_dir), final_metrics(r.run_dir)
        shown = f"{r.name} ({r.id})" if names.count(r.name) > 1 else r.name  # one name, two runs: say which
        state = r.state if Path(r.run_dir, "run.json").is_file() else f"{r.state} (run dir gone)"
        cells = [shown, r.stage, state, *(str(ax.get(a, "")) for a in axes),
                 *(f"{met[m]:.4g}" if m in met else "" for m in metric_names)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def curves(run_dir: str, tag: str = "train/loss") -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = Path(run_dir, "tb")
    if not tb.is_dir():
        return []
    acc = EventAccumulator(str(tb))
    acc.Reload()
    if tag not in acc.Tags().get("scalars", []):
        return []
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def plots(runs: list[RunRecord], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    trained = [(r, curves(r.run_dir)) for r in runs]
    trained = [(r, c) for r, c in trained if c]
    if trained:
        fig, ax = plt.subplots(figsize=(7, 4))
        for r, c in trained:
            ax.plot([s for s, _ in c], [v for _, v in c], label=r.name)
        ax.set(xlabel="step", ylabel="train/loss", title="training curves")
        ax.legend(fontsize=7)
        path = out / "training_curves.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    axes = sorted({k for r in runs for k in axes_of(r.run_dir)})
    for axis in axes:
        for stage in sorted({r.stage for r in runs}):
            points: list[tuple[float, dict[str, float]]] = []
            for r in runs:
                x = axes_of(r.run_dir).get(axis)
                if r.stage == stage and isinstance(x, (int, float)) and (m := final_metrics(r.run_dir)):
                    points.append((float(x), m))
            for metric in sorted({k for _, m in points for k in m}):
                xs = [(x, m[metric]) for x, m in points if metric in m]
                if len(xs) < 2:
                    continue
                xs.sort()
                fig, ax = plt.subplots(figsize=(5, 3.5))
                ax.plot([x for x, _ in xs], [y for _, y in xs], "o-")
                ax.set(xlabel=axis, ylabel=metric, title=f"{stage}: {metric} vs {axis}")
                path = out / file_name(f"{stage}__{metric}__vs__{axis}", ".png")
                fig.savefig(path, dpi=100, bbox_inches="tight")
                plt.close(fig)
                written.append(path)
    return written


def kind_of(runs: list[RunRecord]) -> str | None:
    for r in runs:
        config = read_object(Path(r.run_dir, "run.json"))
        if config is not None:
            return str(config["kind"]) if config.get("kind") else None
    return None


def route_section(runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    """The kind's own section (launch/reports/<kind>.py), if it has one."""
    import importlib

    from launch.reports import SECTIONS

    kind = kind_of(runs)
    if kind not in SECTIONS:
        return "", []
    module = importlib.import_module(f"launch.reports.{SECTIONS[kind]}")
    try:
        text, images = module.section(runs, out)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        # outputs written by another version, or by hand: the rest of the report still renders
        return f"## {kind}\n\n(this section could not be drawn from the runs' outputs: {type(exc).__name__}: " \
               f"{str(exc)[:200]})\n", []
    return str(text), list(images)


def rehearsal_banner(experiment: str) -> str:
    """A rehearsal's report says so before anything else: its figures come from random models."""
    from compiler.rehearsal import SUFFIX

    if not experiment.endswith(SUFFIX):
        return ""
    return (f"> **This is a rehearsal** (`labspec launch --rehearse`) of {experiment.removesuffix(SUFFIX)}: random "
            "models of the same classes, shrunk, on a few rows of data, for a few steps. It shows that every "
            "stage runs; none of its figures measures anything.\n\n")


def write_report(experiment: str, runs: list[RunRecord], out: Path) -> tuple[str, list[Path]]:
    """report.md and its PNGs under `out`; returns the route's section (for the terminal) and the files."""
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    section, route_images = route_section(runs, out)
    images = route_images + plots(runs, out)
    text = (f"# {experiment}\n\n" + rehearsal_banner(experiment)
            + (section + "\n## Every run\n\n" if section else "") + table(runs) + "\n"
            + "".join(f"![{p.stem}]({p.name})\n" for p in images))
    md.write_text(text, encoding="utf-8")
    return section, [md, *images]
