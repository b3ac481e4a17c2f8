"""Plot helpers shared by `labspec report` and the route sections: which x axes are
logarithmic, where ticks go, how tight a y range may be, and how panels wrap into rows.

The decisions are plain functions of the values (tested without drawing); matplotlib is
imported only inside the drawing functions, so `import launch` stays light.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
MAX_WIDTH_IN = 8.8  # <= 900 px at DPI with the saved margin: fits a laptop screen and a Markdown viewer
LOG_NAMES = ("lr", "learning_rate", "min_lr", "weight_decay", "eps", "epsilon")
MIN_RELATIVE_SPAN = 0.05  # a y range narrower than 5% of its values' size draws noise as a cliff
MAX_TICKS = 8


def leaf(name: str) -> str:
    """The last component of a dotted key ("training.lr" -> "lr")."""
    return name.rsplit(".", 1)[-1].lower()


def numeric(values: Sequence[Any]) -> list[float]:
    """The values that are real numbers (booleans are not), as floats."""
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v))]


def log_axis(name: str, values: Sequence[Any]) -> bool:
    """Whether an axis reads best on a log scale: learning rates and the like (by name, as
    researchers sweep them in factors), or positive values spanning >= 10x whose steps are
    closer to constant ratios than to constant differences (1, 10, 100 but not 10, 20, ..., 100)."""
    xs = sorted(set(numeric(values)))
    if len(xs) < 2 or xs[0] <= 0:
        return False
    name = leaf(name)
    if name in LOG_NAMES or name.endswith(("_lr", "_learning_rate")):
        return True
    if xs[-1] / xs[0] < 10:
        return False
    if len(xs) == 2:
        return True
    ratios = [math.log(b / a) for a, b in itertools.pairwise(xs)]
    steps = [b - a for a, b in itertools.pairwise(xs)]
    return _spread(ratios) < _spread(steps)


def _spread(values: list[float]) -> float:
    """Coefficient of variation: how far a list of steps is from constant, scale-free."""
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / abs(mean) if mean else math.inf


def integer_valued(values: Sequence[Any]) -> bool:
    """All values are whole numbers (a model index, a LoRA rank): ticks must be too."""
    xs = numeric(values)
    return bool(xs) and all(float(x).is_integer() for x in xs)


def value_ticks(values: Sequence[Any]) -> list[float] | None:
    """Ticks at the swept values themselves when there are few of them (a sweep's points are
    what one reads off), else None (let the locator choose)."""
    xs = sorted(set(numeric(values)))
    return xs if 0 < len(xs) <= MAX_TICKS else None


def tick_label(x: float) -> str:
    """A short exact label: 0.001, 3e-05, 128 (never 0.00100001250001500...)."""
    return f"{x:g}"


def y_limits(values: Sequence[float], min_relative_span: float = MIN_RELATIVE_SPAN) -> tuple[float, float] | None:
    """A y range at least `min_relative_span` of the values' magnitude wide, centred on them;
    None when the data's own range is already wide enough (or there is nothing to draw)."""
    ys = numeric(values)
    if not ys:
        return None
    lo, hi = min(ys), max(ys)
    need = max(min_relative_span * max(abs(lo), abs(hi)), 1e-9)
    if hi - lo >= need:
        return None
    mid = (lo + hi) / 2
    return mid - need / 2, mid + need / 2


def grid(panels: int, max_cols: int = 3,
         panel_in: tuple[float, float] = (3.0, 2.6)) -> tuple[int, int, tuple[float, float]]:
    """(rows, columns, figure size in inches) for `panels` panels wrapped into rows, never
    wider than MAX_WIDTH_IN."""
    cols = max(1, min(panels, max_cols))
    rows = max(1, math.ceil(panels / cols))
    width = min(MAX_WIDTH_IN, panel_in[0] * cols)
    return rows, cols, (width, panel_in[1] * rows)


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend (no display on a cluster node)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panels(count: int, max_cols: int = 3, panel_in: tuple[float, float] = (3.0, 2.6)) -> tuple[Figure, list[Axes]]:
    """A figure of `count` panels wrapped into rows; the unused cells of the last row hidden."""
    rows, cols, size = grid(count, max_cols, panel_in)
    # constrained layout makes room for titles and for legends placed below a panel
    fig, axes = pyplot().subplots(rows, cols, figsize=size, squeeze=False, layout="constrained")
    flat: list[Axes] = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def style_x(ax: Axes, name: str, values: Sequence[Any]) -> None:
    """The x axis of a sweep: log scale where log_axis says so, ticks at the swept values with
    exact short labels, whole-number ticks for whole-number values."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter, NullLocator

    if log_axis(name, values):
        ax.set_xscale("log")
    ticks = value_ticks(values)
    if ticks is not None:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: tick_label(x)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        if len(ticks) > 4:
            ax.tick_params(axis="x", labelrotation=30)
    elif integer_valued(values):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(name)


def integer_x(ax: Axes) -> None:
    """Whole-number ticks on x (an iteration, a model index, a training step)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def style_y(ax: Axes, values: Sequence[float]) -> None:
    """A y range that does not blow a 0.0003 difference up to the whole panel (y_limits)."""
    limits = y_limits(values)
    if limits is not None:
        ax.set_ylim(*limits)
        ax.ticklabel_format(axis="y", useOffset=False)


def legend(ax: Axes, inside: int = 5) -> None:
    """A legend only when the panel has more than one labelled line (a single '-' is no legend);
    below the panel, in columns, when more than `inside` lines would hide the data."""
    _, labels = ax.get_legend_handles_labels()
    count = len([label for label in labels if label and not label.startswith("_")])
    if count > inside:
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    elif count > 1:
        ax.legend(fontsize=7)


def distinct_colours(ax: Axes, lines: int) -> None:
    """20 colours instead of 10 when a panel has more than 10 lines (no two runs look alike)."""
    if lines > 10:
        ax.set_prop_cycle(color=list(pyplot().get_cmap("tab20").colors))


def save(fig: Figure, path: Path) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    return path
