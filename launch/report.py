"""`labspec report`: what a sweep answers, readable on one screen, as report.md, report.html
(plots inline) and on the terminal.

- **Best point** first: for each held-out metric (the evaluation stages' metrics), the
  best grid point and its value, with ± standard error where the run left one
  (`<metric>_stderr` in metrics.json, or per-sample scores in predictions.jsonl, or the
  spread over seeds).
- **Axes** are only the swept keys whose values really differ across the experiment's runs
  (read from each run.json's `axes`); a key swept over one value is listed as fixed.
- **Tables per stage type**, with only the columns that stage has, split to fit 120
  columns rather than cut (launch.reports.tables).
- **Plots**: training losses on one panel per stage type, each stage type's final figures
  against each axis (log x for learning rates), under a heading per section.

matplotlib and tensorboard load only inside the functions that draw or read events.
"""

from __future__ import annotations

import functools
import json
import math
import re
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launch.jsonfile import numbers, read_object
from launch.ledger import COMPLETED, RunRecord
from launch.reports.tables import (
    IMAGE,
    WIDTH,
    align_tables,
    column_parts,
    md_table,
    to_html,
    without_images,
    wrap_prose,
)

SKIP = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "epoch",
        # counters and bookkeeping, not results
        "samples", "prompts", "shards", "samples_per_prompt", "world_size", "restarts", "steps", "expected_total")
STDERR_SUFFIXES = ("_stderr", "_se")
LOWER_IS_BETTER = ("loss", "perplexity", "ppl", "error", "invalid", "wrong", "edit_distance", "distance", "nll", "wer")
HELDOUT_ROLES = ("evaluate", "evaluate_encoder")
NOT_RANKED = ("seconds", "tokens", "runtime", "per_second", "samples", "images", "count",  # costs and sizes
              "baseline")  # a reference point, not the model
SEED = "seed"
MAX_BEST_ROWS = 12  # the summary stays on one screen; every metric is still in the stage tables
MAX_PANELS = 12
LOSS_TAG = "train/loss"


# --- a run's files -------------------------------------------------------------------------------


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


def axes_of(run_dir: str) -> dict[str, Any]:
    axes = (read_object(Path(run_dir, "run.json")) or {}).get("axes")
    return axes if isinstance(axes, dict) else {}


def varying_axes(runs: Sequence[RunRecord]) -> dict[str, list[Any]]:
    """The swept keys whose values differ across the runs, with their values in order. A key
    swept over one value (`peft.r: [4]`, `seeds: [0]`) is no axis: nothing was compared along it."""
    values: dict[str, dict[str, Any]] = {}
    for r in runs:
        for key, value in axes_of(r.run_dir).items():
            values.setdefault(key, {})[repr(value)] = value
    return {k: _ordered(list(v.values())) for k, v in sorted(values.items()) if len(v) > 1}


def fixed_axes(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """The swept keys that took one value in every run that has them (shown once, as fixed)."""
    values: dict[str, dict[str, Any]] = {}
    for r in runs:
        for key, value in axes_of(r.run_dir).items():
            values.setdefault(key, {})[repr(value)] = value
    return {k: next(iter(v.values())) for k, v in sorted(values.items()) if len(v) == 1}


def _ordered(values: list[Any]) -> list[Any]:
    """Numbers in numeric order, then anything else by its text."""
    nums = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
    return nums + sorted((v for v in values if v not in nums), key=str)


def point_label(run: RunRecord, varying: Collection[str] | None = None) -> str:
    """The grid point a run belongs to, as "key=value, ..." over the `varying` keys (every
    swept key when None); "-" when there is nothing to tell points apart."""
    axes = axes_of(run.run_dir)
    keys = sorted(axes) if varying is None else sorted(k for k in axes if k in varying)
    return ", ".join(f"{k}={axes[k]}" for k in keys) or "-"


def kind_of(runs: list[RunRecord]) -> str | None:
    for r in runs:
        config = read_object(Path(r.run_dir, "run.json"))
        if config is not None:
            return str(config["kind"]) if config.get("kind") else None
    return None


@dataclass(frozen=True)
class RunView:
    """One run as the report reads it: its ledger record, run.json, final metrics (standard
    errors apart) and its stage type (runs of one stage type share their metrics)."""

    record: RunRecord
    config: dict[str, Any]
    metrics: dict[str, float]
    stderr: dict[str, float] = field(default_factory=dict)
    primary: str | None = None

    @property
    def stage_type(self) -> str:
        return str(self.config.get("stage_type") or self.record.stage)

    @property
    def task(self) -> str:
        return str(self.config.get("task") or self.stage_type)

    @property
    def axes(self) -> dict[str, Any]:
        axes = self.config.get("axes")
        return axes if isinstance(axes, dict) else {}

    @property
    def coordinates(self) -> dict[str, Any]:
        return coordinates_of(self.record)


def view(run: RunRecord) -> RunView:
    """Read a run's files once; a missing or foreign file leaves its part empty."""
    data = read_object(Path(run.run_dir, "outputs", "metrics.json")) or {}
    found = {k: v for k, v in numbers(data).items() if k not in SKIP}  # final_metrics, read once
    stderr = {k.removesuffix(s): v for k, v in found.items() for s in STDERR_SUFFIXES
              if k.endswith(s) and k.removesuffix(s) in found}  # "x_stderr" beside "x"; else a metric of its own
    errors = {k + s for k in stderr for s in STDERR_SUFFIXES}
    values = {k: v for k, v in found.items() if k not in errors}
    primary = data.get("primary_metric")
    return RunView(run, read_object(Path(run.run_dir, "run.json")) or {}, values, stderr,
                   primary if isinstance(primary, str) else None)


# --- numbers as text --------------------------------------------------------------------------------


def fmt(value: float, se: float | None = None) -> str:
    """4 significant digits, whole numbers in full (10695 tokens, not 1.07e+04); "± se" (2
    digits) beside it when known."""
    text = f"{int(value)}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return text + (f" ± {se:.2g}" if se is not None and math.isfinite(se) else "")


def shown_name(run: RunRecord, runs: Sequence[RunRecord]) -> str:
    """The run's name, with its id when another run of the experiment has the same name."""
    return f"{run.name} ({run.id})" if sum(r.name == run.name for r in runs) > 1 else run.name


def state_of(run: RunRecord) -> str:
    return run.state if Path(run.run_dir, "run.json").is_file() else f"{run.state} (run dir gone)"


def higher_is_better(metric: str) -> bool:
    """Accuracy-like metrics go up; losses, perplexities, error rates and distances go down."""
    name = metric.lower()
    return not any(word in name for word in LOWER_IS_BETTER)


# --- best point ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One candidate's value for a held-out metric, with its standard error and where it came from."""

    label: str
    value: float
    se: float | None
    se_from: str


def per_sample(run: RunView) -> dict[str, list[float]]:
    """The evaluator's per-sample scores (predictions.jsonl): each numeric or boolean field
    over every sample that has it; `correct` is what `accuracy` averages."""
    outputs = run.config.get("outputs")
    path = Path(outputs["predictions"]) if isinstance(outputs, dict) and outputs.get("predictions") \
        else Path(run.record.run_dir, "outputs", "predictions.jsonl")
    try:
        stat = path.stat()
    except OSError:
        return {}
    return _sample_fields(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _sample_fields(path: str, _mtime_ns: int, _size: int) -> dict[str, list[float]]:
    """per_sample's reading, once per file version (the summary asks per metric and candidate)."""
    fields: dict[str, list[float]] = {}
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                for key, value in row.items() if isinstance(row, dict) else ():
                    if isinstance(value, (bool, int, float)):
                        fields.setdefault(key, []).append(float(value))
    except (OSError, UnicodeDecodeError):
        return {}
    if "correct" in fields:
        fields.setdefault("accuracy", fields["correct"])
    return fields


def sample_stderr(run: RunView, metric: str, samples: dict[str, list[float]]) -> tuple[float, int] | None:
    """(standard error, n) of a metric that is the mean of per-sample scores: sample standard
    deviation / sqrt(n), as lm-evaluation-harness reports. Only when the scores' mean is the
    recorded value (else the scores are of something else, and no ± is better than a wrong one)."""
    xs = samples.get(metric, [])
    value = run.metrics.get(metric)
    if len(xs) < 2 or value is None or abs(statistics.fmean(xs) - value) > 1e-9 * max(1.0, abs(value)):
        return None
    return statistics.stdev(xs) / math.sqrt(len(xs)), len(xs)


def heldout(views: Sequence[RunView]) -> dict[tuple[str, str], list[RunView]]:
    """Completed evaluation runs on held-out data, grouped by (stage type, split): candidates
    compared together. An evaluation on the training split (formula_dpo's, to mine pairs)
    measures no generalisation and is left out."""
    groups: dict[tuple[str, str], list[RunView]] = {}
    for v in views:
        if v.coordinates.get("role") in HELDOUT_ROLES and v.metrics and v.coordinates.get("split") != "train":
            groups.setdefault((v.stage_type, str(v.coordinates.get("split") or "")), []).append(v)
    return groups


def short_labels(keys: Collection[str]) -> dict[str, str]:
    """Each swept key by its last component unless two share it: the labels run names use
    (compiler.sweep.labels, not imported: it would load the whole compiler)."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (name if last.count(name) == 1 else k) for k, name in zip(keys, last, strict=True)}


def candidate_key(run: RunView, varying: Collection[str], several_stages: bool) -> str:
    """What a candidate is: its grid point without the seed (seeds are repeats of one point),
    and its stage when one grid point has several evaluations (the start and each iteration)."""
    label = short_labels(sorted(varying))
    point = ", ".join(f"{label[k]}={run.axes[k]}" for k in sorted(run.axes) if k in varying and k != SEED)
    parts = [p for p in (point, run.record.stage if several_stages or not point else "") if p]
    return " · ".join(parts)


def scores(group: Sequence[RunView], metric: str, varying: Collection[str]) -> list[Score]:
    """Each candidate's value for `metric`: the mean over seeds with the seeds' standard error
    when a point ran several seeds; else the run's value with its recorded or per-sample one."""
    several = len({v.record.stage for v in group}) > 1
    by_key: dict[str, list[RunView]] = {}
    for v in group:
        if metric in v.metrics and math.isfinite(v.metrics[metric]):
            by_key.setdefault(candidate_key(v, varying, several), []).append(v)
    out = []
    for key, runs in by_key.items():
        values = [r.metrics[metric] for r in runs]
        if len(values) > 1:
            out.append(Score(key, statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values)),
                             f"{len(values)} seeds"))
        elif metric in runs[0].stderr:
            out.append(Score(key, values[0], runs[0].stderr[metric], ""))  # the evaluator's own
        elif found := sample_stderr(runs[0], metric, per_sample(runs[0])):
            out.append(Score(key, values[0], found[0], f"{found[1]} samples"))
        else:
            out.append(Score(key, values[0], None, ""))
    return out


def ranked(metric: str) -> bool:
    """Whether a held-out figure says how good the model is. Time, tokens and sample counts say
    what the evaluation cost, a baseline what the model is compared with: no "best point"."""
    return not any(word in metric.lower() for word in NOT_RANKED)


def summary_metrics(group: Sequence[RunView]) -> list[str]:
    """The metrics the summary ranks: the primary metric first, then its siblings (the other
    `ability/*` beside `ability/math`) and every top-level metric; per-subset figures and costs
    stay in the stage tables."""
    names = {k for v in group for k in v.metrics if ranked(k)}
    primary = [p for p in dict.fromkeys(v.primary for v in group) if p in names]
    families = {p.rpartition("/")[0] for p in primary if "/" in p}
    rest = sorted(k for k in names if k not in primary and ("/" not in k or k.rpartition("/")[0] in families))
    return primary + rest


def tied(label: str, value: float, ranked: Sequence[Score]) -> str:
    """`label`, and how many other candidates have the same value (a tie is no ranking)."""
    others = sum(s.value == value for s in ranked) - 1
    return label + (f" (+{others} tied)" if others > 0 else "")


def runner_up(ranked: Sequence[Score]) -> str:
    """The best value after the best one, for scale: the first candidate strictly behind."""
    if len(ranked) < 2:
        return "(one candidate)"
    behind = [s for s in ranked if s.value != ranked[0].value]
    if not behind:
        return "(all equal)"
    return f"{fmt(behind[0].value, behind[0].se)} at " + tied(behind[0].label, behind[0].value, ranked)


def best_rows(group: Sequence[RunView], varying: Collection[str]) -> list[list[str]]:
    """One evaluation stage's summary rows: metric, best value, ± s.e., where, runner-up."""
    rows = []
    for metric in summary_metrics(group):
        found = scores(group, metric, varying)
        if not found:
            continue
        up = higher_is_better(metric)
        found.sort(key=lambda s: -s.value if up else s.value)
        best = found[0]
        se = f"± {best.se:.2g}" + (f" ({best.se_from})" if best.se_from else "") \
            if best.se is not None and math.isfinite(best.se) else ""
        rows.append([f"{metric} {'↑' if up else '↓'}", fmt(best.value), se, tied(best.label, best.value, found),
                     runner_up(found)])
    return rows


def best_point(views: Sequence[RunView], varying: Collection[str]) -> str:
    """The "Best point" section: per held-out metric, the best candidate, its value ± standard
    error, and the runner-up for scale; a table per evaluation stage and split when there are
    several (so no metric name carries them)."""
    groups = heldout(views)
    parts: list[str] = []
    shown = hidden = 0
    for (stage_type, split), group in groups.items():
        rows = best_rows(group, varying)
        keep = rows[:max(0, MAX_BEST_ROWS - shown)]
        shown, hidden = shown + len(keep), hidden + len(rows) - len(keep)
        if not keep:
            continue
        if len(groups) > 1:
            parts.append(f"{stage_type}" + (f", {split} split" if split else "") + ":\n")
        parts.append(md_table(["held-out metric", "best", "± s.e.", "at", "next best"], keep))
    if not parts:
        return ""
    text = "## Best point\n\n" + "\n".join(parts)
    if hidden:
        text += f"\n{hidden} more held-out metrics are in the tables below.\n"
    return text


def sweep_line(runs: Sequence[RunRecord], varying: dict[str, list[Any]]) -> str:
    """Which keys were compared and which were swept over one value (and so are no axes)."""
    fixed = fixed_axes(runs)
    label = short_labels(list(varying))
    swept = "; ".join(f"{k}{f' ({label[k]})' if label[k] != k else ''} ∈ {{{', '.join(str(v) for v in vs)}}}"
                      for k, vs in varying.items())
    text = f"Swept: {swept}." if swept else "No sweep: one grid point."
    if fixed:
        text += " Fixed (one value, not an axis): " + ", ".join(f"{k}={v}" for k, v in fixed.items()) + "."
    return text + "\n"


# --- tables per stage ---------------------------------------------------------------------------------


def stage_groups(views: Sequence[RunView]) -> dict[str, list[RunView]]:
    """Runs by stage type, in the order the experiment runs them."""
    groups: dict[str, list[RunView]] = {}
    for v in views:
        groups.setdefault(v.stage_type, []).append(v)
    return groups


def stage_table(group: Sequence[RunView], runs: Sequence[RunRecord], varying: Collection[str]) -> str:
    """One stage type's runs and only the metrics that stage has; transposed (a row per metric)
    when that fits the screen and the run-per-row form would not."""
    axes = [a for a in varying if any(a in v.axes for v in group)]
    metrics = sorted({k for v in group for k in v.metrics})
    states = any(state_of(v.record) != COMPLETED for v in group)
    header = ["run", *(["state"] if states else []), *axes, *metrics]
    rows = [[shown_name(v.record, runs), *([state_of(v.record)] if states else []),
             *(str(v.axes.get(a, "")) for a in axes),
             *(fmt(v.metrics[m], v.stderr.get(m)) if m in v.metrics else "" for m in metrics)] for v in group]
    keep = 1 + states + len(axes)

    def parts(table: list[list[str]], key: int) -> int:
        widths = [max(3, *(len(r[i]) for r in table)) for i in range(len(table[0]))]
        return len(column_parts(widths, key, WIDTH))

    wide = [header, *rows]
    tall = [list(column) for column in zip(*wide, strict=True)]
    if parts(wide, keep) > 1 and parts(tall, 1) < parts(wide, keep):
        return md_table(["metric", *tall[0][1:]], tall[1:], keep=1)
    return md_table(header, rows, keep=keep)


def stage_tables(views: Sequence[RunView], runs: Sequence[RunRecord], varying: Collection[str]) -> str:
    out = ["## Runs by stage", ""]
    for stage_type, group in stage_groups(views).items():
        tasks = sorted({v.task for v in group})
        done = sum(v.record.state == COMPLETED for v in group)
        title = stage_type + (f" ({', '.join(tasks)})" if tasks != [stage_type] else "")
        out += [f"### {title}: {len(group)} run{'s' if len(group) > 1 else ''}, {done} completed", ""]
        out.append(stage_table(group, runs, varying))
    return "\n".join(out)


# --- plots ----------------------------------------------------------------------------------------------


def curves(run_dir: str, tag: str = LOSS_TAG) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = Path(run_dir, "tb")
    if not tb.is_dir():
        return []
    acc = EventAccumulator(str(tb))
    acc.Reload()
    if tag not in acc.Tags().get("scalars", []):
        return []
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@dataclass(frozen=True)
class Plot:
    """A PNG and the heading it goes under."""

    path: Path
    title: str


def training_curves(views: Sequence[RunView], out: Path) -> list[Plot]:
    """Training losses, one panel per stage type: an SFT loss and a DPO loss are different
    quantities on different scales and do not share an axis."""
    from launch.reports import figures

    by_type: dict[str, list[tuple[RunView, list[tuple[int, float]]]]] = {}
    for v in views:
        if found := curves(v.record.run_dir):
            by_type.setdefault(v.stage_type, []).append((v, found))
    if not by_type:
        return []
    fig, axes = figures.panels(len(by_type), max_cols=2, panel_in=(4.4 if len(by_type) > 1 else 6.0, 3.0))
    for ax, (stage_type, lines) in zip(axes, by_type.items(), strict=True):
        task = lines[0][0].task
        figures.distinct_colours(ax, len(lines))
        for v, c in lines:
            ax.plot([s for s, _ in c], [y for _, y in c], label=v.record.name)
        ax.set(xlabel="step", ylabel=LOSS_TAG, title=stage_type + (f" ({task})" if task != stage_type else ""))
        figures.integer_x(ax)
        figures.style_y(ax, [y for _, c in lines for _, y in c])
        figures.legend(ax)
    return [Plot(figures.save(fig, out / "training_curves.png"), "Training loss")]


def series_label(run: RunView, other: Sequence[str], several_stages: bool) -> str:
    """What tells a line apart from the others on one panel: the other axes' values and the
    run's stage (evaluate_start vs evaluate_t0)."""
    parts = [f"{k}={run.axes.get(k)}" for k in other]
    return ", ".join(([run.record.stage] if several_stages else []) + parts)


def against_axis(stage_type: str, group: Sequence[RunView], axis: str, varying: dict[str, list[Any]],
                 out: Path) -> tuple[Plot | None, list[str]]:
    """One figure: each metric of a stage type against one axis (a panel per metric, a line
    per value of the other axes). Metrics equal at every point are returned for a note instead."""
    from launch.reports import figures

    other = [k for k in varying if k not in (axis, SEED)]  # seeds repeat a point: averaged, not lines
    several = len({v.record.stage for v in group}) > 1
    heldout_stage = all(v.coordinates.get("role") in HELDOUT_ROLES for v in group)
    lines: dict[str, dict[str, list[tuple[float, float]]]] = {}  # metric -> series -> points
    for v in group:
        found = figures.numeric([v.axes.get(axis)])
        if not found:
            continue
        for metric, y in v.metrics.items():
            if math.isfinite(y):
                lines.setdefault(metric, {}).setdefault(series_label(v, other, several), []).append((found[0], y))
    drawn = [m for m, s in sorted(lines.items()) if any(len({x for x, _ in p}) > 1 for p in s.values())]
    flat = [m for m in drawn if len({y for p in lines[m].values() for _, y in p}) == 1]
    notes = [f"{m} = {fmt(next(iter(lines[m].values()))[0][1])}" for m in flat]
    drawn = [m for m in drawn if m not in flat]
    if len(drawn) > MAX_PANELS:
        notes.append(f"(and {len(drawn) - MAX_PANELS} more metrics, not drawn: {', '.join(drawn[MAX_PANELS:])})")
        drawn = drawn[:MAX_PANELS]
    if not drawn:
        return None, notes
    fig, axes = figures.panels(len(drawn))
    xs = varying[axis]
    for ax, metric in zip(axes, drawn, strict=True):
        for label, points in sorted(lines[metric].items()):
            means = seed_means(points)
            ax.errorbar([x for x, _, _ in means], [y for _, y, _ in means], yerr=[e for _, _, e in means],
                        fmt="o-", capsize=3, label=label or None)
        figures.style_x(ax, axis, xs)
        figures.style_y(ax, [y for p in lines[metric].values() for _, y in p])
        arrow = (" ↑" if higher_is_better(metric) else " ↓") if heldout_stage else ""  # a train loss is no target
        ax.set_title(metric + arrow, fontsize=9)
        figures.legend(ax)
    path = figures.save(fig, out / file_name(f"{stage_type}__vs__{axis}", ".png"))
    return Plot(path, f"{stage_type}: final figures against {axis}"), notes


def seed_means(points: Sequence[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """(x, mean, standard error) per x: the seeds of one point drawn as one mark with an error
    bar (0 for a single seed) instead of a vertical zigzag."""
    by_x: dict[float, list[float]] = {}
    for x, y in points:
        by_x.setdefault(x, []).append(y)
    return [(x, statistics.fmean(ys), statistics.stdev(ys) / math.sqrt(len(ys)) if len(ys) > 1 else 0.0)
            for x, ys in sorted(by_x.items())]


def sweep_plots(views: Sequence[RunView], varying: dict[str, list[Any]], out: Path) -> tuple[list[Plot], list[str]]:
    """Every stage type's final figures against every axis that varies; notes on what was flat."""
    from launch.reports import figures

    plots: list[Plot] = []
    notes: list[str] = []
    for axis, values in varying.items():
        if axis == SEED or len(figures.numeric(values)) < 2:
            continue  # seeds are repeats, not a trend; a categorical axis: the tables compare it
        for stage_type, group in stage_groups(views).items():
            plot, flat = against_axis(stage_type, group, axis, varying, out)
            if plot:
                plots.append(plot)
            if flat:
                notes.append(f"{stage_type} against {axis}: " + ", ".join(flat) + ".")
    return plots, notes


# --- the route's own section ----------------------------------------------------------------------------


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


def route_titles(runs: list[RunRecord]) -> dict[str, str]:
    """The route section's headings for its images (its module's TITLES), by file name."""
    import importlib

    from launch.reports import SECTIONS

    kind = kind_of(runs)
    if kind not in SECTIONS:
        return {}
    titles = getattr(importlib.import_module(f"launch.reports.{SECTIONS[kind]}"), "TITLES", {})
    return dict(titles) if isinstance(titles, dict) else {}


def rehearsal_banner(experiment: str) -> str:
    """A rehearsal's report says so before anything else: its figures come from random models."""
    from compiler.rehearsal import SUFFIX

    if not experiment.endswith(SUFFIX):
        return ""
    return (f"> **This is a rehearsal** (`labspec launch --rehearse`) of {experiment.removesuffix(SUFFIX)}: random "
            "models of the same classes, shrunk, on a few rows of data, for a few steps. It shows that every "
            "stage runs; none of its figures measures anything.\n\n")


# --- the whole report -----------------------------------------------------------------------------------


def images_markdown(plots: Sequence[Plot]) -> str:
    return "".join(f"### {p.title}\n\n![{p.path.stem}]({p.path.name})\n\n" for p in plots)


def remove_stale(out: Path) -> None:
    """Delete the PNGs the previous report.md showed: renamed or dropped plots (an axis that
    no longer varies) must not linger beside the new report."""
    old = out / "report.md"
    if not old.is_file():
        return
    for line in old.read_text(encoding="utf-8", errors="replace").split("\n"):
        m = IMAGE.match(line)
        if m and "/" not in m.group("src") and m.group("src").endswith(".png"):
            (out / m.group("src")).unlink(missing_ok=True)


@dataclass(frozen=True)
class Report:
    """What write_report wrote, and what the terminal shows of it (tables and prose, no images)."""

    markdown: Path
    html: Path
    images: list[Path]
    terminal: str


def compose(experiment: str, runs: list[RunRecord], out: Path) -> tuple[str, str, list[Path]]:
    """report.md's text, the terminal's (no plots) and the PNGs report.md shows (drawn into `out`)."""
    views = [view(r) for r in runs]
    varying = varying_axes(runs)
    section, route_images = route_section(runs, out)
    titles = route_titles(runs)
    route_plots = [Plot(p, titles.get(p.name, p.stem.replace("_", " "))) for p in route_images]
    curves_ = training_curves(views, out)
    swept, flat = sweep_plots(views, varying, out)
    head = [f"# {experiment}\n", rehearsal_banner(experiment), best_point(views, varying), sweep_line(runs, varying)]
    tables = stage_tables(views, runs, varying)
    plots_md = ["## Plots\n", images_markdown(curves_ + swept)] if curves_ or swept else []
    if flat:
        plots_md.append("Not drawn (the same at every point, or too many panels): " + " ".join(flat) + "\n")
    md = [*head, *([section, images_markdown(route_plots)] if section else []), tables, *plots_md]
    terminal = [*head, section, tables]
    return joined(md), joined(terminal), [p.path for p in route_plots + curves_ + swept]


def joined(parts: Sequence[str]) -> str:
    """Sections as one Markdown text: one blank line between blocks, prose wrapped to the screen."""
    return wrap_prose(re.sub(r"\n{3,}", "\n\n", "\n".join(p for p in parts if p))).strip() + "\n"


def write_report(experiment: str, runs: list[RunRecord], out: Path) -> Report:
    """report.md, report.html (plots inline) and the PNGs under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    text, terminal, images = compose(experiment, runs, out)
    md, page = out / "report.md", out / "report.html"
    md.write_text(text, encoding="utf-8")
    page.write_text(to_html(text, experiment, out), encoding="utf-8")
    return Report(md, page, images, align_tables(without_images(terminal)))
