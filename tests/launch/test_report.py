"""`labspec report` on hand-made run dirs (run.json with axes, outputs/metrics.json,
predictions.jsonl, a tb/ for training curves): which keys are axes, the 120-column limit
without losing a figure, the best point and its standard error, report.html, and the
decisions behind the plots (log axes, y ranges, panel widths)."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from launch.ledger import RunRecord
from launch.report import best_point, fmt, short_labels, varying_axes, view, write_report
from launch.reports import figures
from launch.reports.tables import WIDTH, align_tables, column_parts, md_table, split_cells, to_html

MakeRun = Callable[..., RunRecord]


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """make_run(name, stage_type, role, metrics, axes=..., ...) -> a COMPLETED RunRecord whose
    run dir holds what a real run leaves: run.json, outputs/metrics.json, optionally
    predictions.jsonl (one dict per sample) and a tb/ with a train/loss curve."""

    def make(name: str, stage_type: str, role: str, metrics: dict[str, Any], axes: dict[str, Any] | None = None,
             kind: str = "sft", task: str | None = None, coordinates: dict[str, Any] | None = None,
             predictions: Sequence[dict[str, Any]] | None = None, curve: Sequence[float] | None = None,
             primary: str | None = None, experiment: str = "exp") -> RunRecord:
        run_dir = tmp_path / "runs" / experiment / name
        (run_dir / "outputs").mkdir(parents=True)
        coords = {"role": role, "point": dict(axes or {}), **(coordinates or {})}
        config = {"run_name": name, "stage": name, "stage_type": stage_type, "task": task or stage_type,
                  "kind": kind, "axes": dict(axes or {}), "coordinates": coords,
                  "outputs": {"metrics": str(run_dir / "outputs" / "metrics.json")}}
        if predictions is not None:
            config["outputs"]["predictions"] = str(run_dir / "outputs" / "predictions.jsonl")
            (run_dir / "outputs" / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
        (run_dir / "run.json").write_text(json.dumps(config))
        (run_dir / "outputs" / "metrics.json").write_text(json.dumps({"primary_metric": primary, **metrics}))
        if curve is not None:
            from torch.utils.tensorboard import SummaryWriter

            with SummaryWriter(str(run_dir / "tb")) as writer:
                for step, value in enumerate(curve, start=1):
                    writer.add_scalar("train/loss", value, step * 10)
        return RunRecord(id=f"{abs(hash(name)) % 10**10:010d}", experiment=experiment, name=name,
                         stage=name.split("__")[0], run_dir=str(run_dir), depends_on=(), state="COMPLETED",
                         executor="local", job_id=None, task_index=None, shards=1, coordinates=coords, token=None,
                         submitted_at=None, started_at=None, ended_at=None, detail=None)

    return make


def hits(share: float, n: int = 64) -> list[dict[str, Any]]:
    """Per-sample predictions whose exact_match / correct average to `share` (of n samples)."""
    k = round(share * n)
    return [{"prompt": f"q{i}", "exact_match": i < k, "correct": i < k} for i in range(n)]


def lr_sweep(make_run: MakeRun, exact: dict[float, float], seeds: Sequence[int] = (0,)) -> list[RunRecord]:
    """sft-tiny's shape: an SFT and an evaluation per learning rate; peft.r swept over one
    value, and the seeds (one value unless given)."""
    runs = []
    for lr, em in exact.items():
        for seed in seeds:
            axes = {"training.lr": lr, "peft.r": 4, "seed": seed}
            tag = f"lr={lr}" + (f",seed={seed}" if len(seeds) > 1 else "")
            runs.append(make_run(f"sft__{tag}", "sft", "train", axes=axes, primary="train_loss",
                                 metrics={"train_loss": 5.3 - lr * 10, "entropy": 5.9352 - lr * 0.1,
                                          "mean_token_accuracy": 0.5 + lr * 30, "num_tokens": 10695.0}))
            score = em + 0.01 * seed
            runs.append(make_run(f"evaluate__{tag}", "evaluate", "evaluate", axes=axes, primary="exact_match",
                                 metrics={"exact_match": round(score * 64) / 64, "samples": 64},
                                 predictions=hits(score), coordinates={"split": "test"}))
    return runs


def quickstart_runs(make_run: MakeRun) -> list[RunRecord]:
    """The quickstart's runs and figures (one SPIN iteration, no sweep)."""
    spin = {"kind": "spin"}
    return [
        make_run("sft", "sft", "train", {"epoch": 7.8, "train_loss": 1.008, "train_runtime": 12.7,
                                          "train_samples_per_second": 314.8, "train_steps_per_second": 39.3},
                 coordinates={"model_index": 0}, curve=[5.9, 3.0, 1.5, 1.0], primary="train_loss", **spin),
        make_run("evaluate_start", "evaluate", "evaluate",
                 {"accuracy": 7 / 64, "exact_match": 7 / 64, "perplexity": 4.931, "samples": 64},
                 coordinates={"model_index": 0, "split": "test"}, predictions=hits(7 / 64), primary="exact_match",
                 **spin),
        make_run("generate_t0", "generate", "generate",
                 {"generation_seconds": 0.1099, "new_tokens": 1039, "prompts": 512, "prompts_per_second": 4658.6,
                  "samples_per_prompt": 1, "shards": 1, "startup_seconds": 1.797, "tokens_per_second": 9453.7},
                 coordinates={"iteration": 0, "model_index": 0}, primary="prompts", **spin),
        make_run("pairs_t0", "pairs", "pairs", {"empty_answers": 0, "identical_to_gold": 61, "new_pairs": 451,
                                                 "pairs": 451, "previous_pairs": 0},
                 task="spin_pairs", coordinates={"iteration": 0, "model_index": 0}, primary="pairs", **spin),
        make_run("train_t0", "train", "train",
                 {"epoch": 0.70, "logps/chosen": -3.1823, "logps/rejected": -3.6397, "loss": 0.63875,
                  "rewards/accuracies": 0.8875, "rewards/chosen": -0.02733, "rewards/margins": 0.11765,
                  "rewards/rejected": -0.14498, "train_loss": 0.66186, "train_runtime": 1.56},
                 task="dpo", coordinates={"iteration": 0, "model_index": 0}, curve=[0.69, 0.66, 0.64],
                 primary="train_loss", **spin),
        make_run("evaluate_t0", "evaluate", "evaluate",
                 {"accuracy": 6 / 64, "exact_match": 6 / 64, "perplexity": 5.357, "samples": 64},
                 coordinates={"iteration": 0, "model_index": 1, "split": "test"}, predictions=hits(6 / 64),
                 primary="exact_match", **spin),
    ]


def table_blocks(markdown: str) -> list[list[list[str]]]:
    """Every Markdown table as its rows of cells (separator rows left out)."""
    blocks: list[list[list[str]]] = []
    previous = False
    for line in markdown.split("\n"):
        is_table = line.startswith("|")
        if is_table and not previous:
            blocks.append([])
        if is_table and not re.fullmatch(r"\|(-+\|)+", line.replace(" ", "")):
            blocks[-1].append(split_cells(line))
        previous = is_table
    return blocks


def png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


# --- which keys are axes ------------------------------------------------------------------------------------


def test_keys_swept_over_one_value_are_not_axes_columns_or_plots(make_run, tmp_path):
    runs = lr_sweep(make_run, {1e-3: 0.0, 3e-3: 0.03})
    assert varying_axes(runs) == {"training.lr": [1e-3, 3e-3]}
    report = write_report("exp", runs, tmp_path / "report")
    md = report.markdown.read_text()
    headers = [cell for block in table_blocks(md) for cell in block[0]]
    assert "training.lr" in headers
    assert not {"peft.r", "seed"} & set(headers)
    assert not any("peft.r" in p.name or "seed" in p.name for p in report.images)
    assert any("training.lr" in p.name for p in report.images)
    assert "peft.r=4" in md  # named once, as fixed


def test_two_varying_keys_are_both_axes_and_seeds_average(make_run):
    runs = lr_sweep(make_run, {1e-4: 0.1, 1e-3: 0.3}, seeds=(0, 1))
    assert set(varying_axes(runs)) == {"training.lr", "seed"}
    text = best_point([view(r) for r in runs], varying_axes(runs))
    (row,) = [r for r in table_blocks(text)[0][1:] if r[0].startswith("exact_match")]
    assert row[3] == "lr=0.001" and "2 seeds" in row[2]  # a seed is a repeat, not a grid point


def test_axis_labels_are_short_unless_ambiguous():
    assert short_labels(["training.lr", "peft.r"]) == {"training.lr": "lr", "peft.r": "r"}
    both = ["stages.sft.training.lr", "stages.train.training.lr"]
    assert short_labels(both) == {k: k for k in both}


# --- one screen -------------------------------------------------------------------------------------------


def every_value_shown(runs: Sequence[RunRecord], text: str) -> list[str]:
    """The figures of `runs` (SKIP aside) that `text` does not show, as 'run: metric'."""
    missing = []
    for r in runs:
        for metric, value in view(r).metrics.items():
            if fmt(value) not in text:
                missing.append(f"{r.name}: {metric}")
    return missing


def test_the_quickstart_fits_120_columns_and_loses_no_figure(make_run, tmp_path):
    runs = quickstart_runs(make_run)
    report = write_report("quickstart", runs, tmp_path / "report")
    md = report.markdown.read_text()
    for text in (md, report.terminal):
        too_long = [line for line in text.split("\n") if len(line) > WIDTH]
        assert not too_long, too_long
        assert not every_value_shown(runs, text)
    assert "## SPIN per iteration" in report.terminal and "![" not in report.terminal
    # one table per stage type, each with only its own metrics
    blocks = table_blocks(md)
    evaluate = next(b for b in blocks if b[0][0] == "run" and any(r[0] == "evaluate_start" for r in b))
    assert evaluate[0] == ["run", "accuracy", "exact_match", "perplexity"]


def test_a_stage_with_many_metrics_is_split_not_cut(make_run, tmp_path):
    long_names = {f"eval/subset_{i:02d}/normalised_exact_match": i / 40 + j / 1000 for i in range(20)
                  for j in range(1)}
    runs = [make_run(f"evaluate__lr={lr}", "evaluate", "evaluate", {k: v + lr for k, v in long_names.items()},
                     axes={"training.lr": lr}, coordinates={"split": "test"}) for lr in (1e-4, 1e-3, 1e-2, 1e-1)]
    report = write_report("exp", runs, tmp_path / "report")
    md = report.markdown.read_text()
    assert max(len(line) for line in (md + report.terminal).split("\n")) <= WIDTH
    assert not every_value_shown(runs, md)
    stage_tables = md.split("## Runs by stage")[1].split("## Plots")[0]
    parts = table_blocks(stage_tables)
    assert len(parts) > 1  # split into parts ...
    assert len({b[0][0] for b in parts}) == 1 and len({b[1][0] for b in parts}) == 1  # ... keyed alike


def test_column_parts_keep_the_key_columns_and_every_column_once():
    widths = [14, 8, *([21] * 9)]
    parts = column_parts(widths, keep=2, width=WIDTH)
    assert len(parts) > 1 and all(p[:2] == [0, 1] for p in parts)
    assert sorted(i for p in parts for i in p[2:]) == list(range(2, len(widths)))
    assert all(sum(widths[i] + 3 for i in p) + 1 <= WIDTH for p in parts)


def test_terminal_tables_line_up_and_numbers_align_right():
    text = align_tables(md_table(["run", "loss"], [["a", "1.5"], ["longer name", "10.25"]]))
    lines = [line for line in text.split("\n") if line]
    assert len({len(line) for line in lines}) == 1
    assert lines[2].endswith("|   1.5 |") and lines[3].startswith("| longer name |")


# --- best point --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scores", [{1e-3: 0.0, 3e-3: 0.03125}, {1e-4: 0.40, 1e-3: 0.25, 1e-2: 0.10}])
def test_the_best_point_names_the_best_learning_rate(make_run, scores):
    runs = lr_sweep(make_run, scores)
    text = best_point([view(r) for r in runs], varying_axes(runs))
    best_lr = max(scores, key=lambda lr: scores[lr])
    (header, row) = table_blocks(text)[0]
    assert header[:4] == ["held-out metric", "best", "± s.e.", "at"]
    assert row[0] == "exact_match ↑" and row[3] == f"lr={best_lr}"  # labelled as run names are
    p, n = round(scores[best_lr] * 64) / 64, 64
    se = (p * (1 - p) * n / (n - 1) / n) ** 0.5
    assert row[1] == fmt(p) and row[2] == f"± {se:.2g} (64 samples)"


def test_ties_are_said_not_ranked(make_run):
    runs = lr_sweep(make_run, {1e-4: 0.25, 1e-3: 0.25, 1e-2: 0.125})
    (_, row) = table_blocks(best_point([view(r) for r in runs], varying_axes(runs)))[0]
    assert row[3] == "lr=0.0001 (+1 tied)" and row[4].startswith("0.125 ") and row[4].endswith("at lr=0.01")
    runs = runs[:4]  # the two tied points alone
    (_, row) = table_blocks(best_point([view(r) for r in runs], varying_axes(runs)))[0]
    assert row[4] == "(all equal)"


def test_lower_is_better_for_perplexity_and_no_stderr_without_samples(make_run):
    runs = [make_run(f"evaluate__lr={lr}", "evaluate", "evaluate", {"perplexity": ppl, "exact_match": 0.5},
                     axes={"training.lr": lr}, coordinates={"split": "test"}, predictions=hits(0.25))
            for lr, ppl in ((1e-3, 7.5), (1e-2, 4.25))]
    rows = {r[0]: r for r in table_blocks(best_point([view(r) for r in runs], varying_axes(runs)))[0][1:]}
    assert rows["perplexity ↓"][1:4] == ["4.25", "", "lr=0.01"]
    assert rows["exact_match ↑"][2] == ""  # the samples average to 0.25, not 0.5: no ± rather than a wrong one


def test_a_recorded_stderr_is_used_and_not_a_column(make_run, tmp_path):
    runs = [make_run(f"evaluate__lr={lr}", "evaluate", "evaluate", {"score": s, "score_stderr": 0.0125},
                     axes={"training.lr": lr}, coordinates={"split": "test"}) for lr, s in ((1e-3, 0.5), (1e-2, 0.75))]
    report = write_report("exp", runs, tmp_path / "report")
    md = report.markdown.read_text()
    assert "| score ↑ | 0.75 | ± 0.013 | lr=0.01 |" in md
    assert "score_stderr" not in md and "0.75 ± 0.013" in md


# --- html and files -----------------------------------------------------------------------------------------


def test_report_html_has_inline_plots_and_every_table(make_run, tmp_path):
    runs = lr_sweep(make_run, {1e-3: 0.0, 3e-3: 0.03})
    runs.append(make_run("sft__curve", "sft", "train", {"train_loss": 1.0}, axes={"training.lr": 1e-2, "peft.r": 4,
                                                                                    "seed": 0},
                         curve=[3.0, 2.0, 1.0]))
    report = write_report("exp", runs, tmp_path / "report")
    page = report.html.read_text()
    assert report.html == tmp_path / "report" / "report.html"
    assert page.count('<img src="data:image/png;base64,') == len(report.images) > 0
    blocks = table_blocks(report.markdown.read_text())
    assert page.count("<table>") == len(blocks)
    for block in blocks:
        assert "<tr>" + "".join(f"<th>{c}</th>" for c in block[0]) + "</tr>" in page
    assert (tmp_path / "report" / "training_curves.png").is_file()


def test_plots_of_a_previous_report_do_not_linger(make_run, tmp_path):
    runs = lr_sweep(make_run, {1e-3: 0.0, 3e-3: 0.03})
    first = write_report("exp", runs, tmp_path / "report")
    old = [p for p in first.images if "training.lr" in p.name]
    assert old and all(p.is_file() for p in old)
    write_report("exp", [r for r in runs if "0.003" not in r.name], tmp_path / "report")  # no axis left
    assert not any(p.is_file() for p in old)


def test_spin_iterations_has_its_panels_and_a_sensible_width(make_run, tmp_path):
    report = write_report("quickstart", quickstart_runs(make_run), tmp_path / "report")
    spin = tmp_path / "report" / "spin_iterations.png"
    assert spin in report.images
    width, height = png_size(spin)
    assert width <= 900 and height > width / 2  # wrapped into rows, not one long strip


def test_html_escapes_text_and_keeps_the_rehearsal_banner():
    page = to_html("# a <b>\n\n> **This is a rehearsal** (`x`)\n\n| a\\|b | c |\n|---|---|\n| 1 | <i> |\n",
                   "t", Path("/nonexistent"))
    assert "<h1>a &lt;b&gt;</h1>" in page and "<strong>This is a rehearsal</strong>" in page
    assert "<th>a|b</th>" in page and "<td>&lt;i&gt;</td>" in page


# --- plot decisions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "values", "log"), [
    ("training.lr", [1e-3, 3e-3], True),          # a learning rate, even over 3x
    ("stages.train.training.lr", [5e-5, 1e-4], True),
    ("peft.r", [4, 8], False),                      # 2x: linear reads fine
    ("peft.r", [4, 8, 16, 32, 64], True),          # powers of two over 16x
    ("beta", [0.01, 0.1, 1.0], True),              # log-spaced over 100x
    ("steps", [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], False),  # 10x, evenly spaced
    ("training.lr", [0.0, 1e-3], False),           # zero has no log
    ("shift", [-1.0, 10.0, 100.0], False),
])
def test_log_axis(name, values, log):
    assert figures.log_axis(name, values) is log


def test_tick_labels_are_short_and_integer_values_get_integer_ticks():
    assert [figures.tick_label(x) for x in (1e-3, 3e-5, 128.0)] == ["0.001", "3e-05", "128"]
    assert figures.integer_valued([0, 1, 2]) and not figures.integer_valued([0.5, 1])
    assert figures.value_ticks([3, 1, 2, 1]) == [1, 2, 3] and figures.value_ticks(list(range(20))) is None


def test_a_tight_y_range_is_widened_and_a_wide_one_left_alone():
    lo, hi = figures.y_limits([5.9349, 5.9352]) or (0.0, 0.0)
    assert lo < 5.9349 and hi > 5.9352 and hi - lo >= 0.05 * 5.9352 - 1e-12
    assert figures.y_limits([0.1, 0.6]) is None


def test_panels_wrap_into_rows_no_wider_than_900_px():
    for count in range(1, 13):
        rows, cols, (width, _) = figures.grid(count)
        assert rows * cols >= count and cols <= 3 and width * figures.DPI <= 900
