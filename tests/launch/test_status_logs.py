"""`labspec status` and `labspec logs` as a researcher reads them (issue 16): the latest
training scalar read from TensorBoard's event files without TensorBoard, an experiment
column and short ids, real job ids, `--watch`, `logs EXPERIMENT RUN`, ambiguous names
that list their candidates, and progress bars shown at their last state."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launch import ledger as L
from launch.cli.logs import Logs
from launch.cli.status import job_label, last_metric
from launch.cli_support import LogReader, last_states
from launch.ledger import Ledger, RunRecord, short_ids
from launch.tfevents import event_files, latest_scalar, masked_crc32c, read_scalars
from tests.conftest import REPO

Cli = Callable[..., tuple[int, str, str]]


# --- helpers -----------------------------------------------------------------------

def summary_writer(log_dir: Path) -> Any:
    writer_module = pytest.importorskip("torch.utils.tensorboard")
    return writer_module.SummaryWriter(str(log_dir))


def reference_scalars(path: Path) -> list[tuple[str, float, int]]:
    """What TensorBoard's own loader reads from `path`: every single-number value."""
    loader = pytest.importorskip("tensorboard.backend.event_processing.event_file_loader")
    out = []
    for event in loader.EventFileLoader(str(path)).Load():
        for value in event.summary.value:
            numbers = [value.simple_value] if value.HasField("simple_value") else \
                list(value.tensor.float_val) or list(value.tensor.double_val)
            if len(numbers) == 1:
                out.append((value.tag, numbers[0], event.step))
    return out


def mine(path: Path, **kwargs: Any) -> list[tuple[str, float, int]]:
    return [(s.tag, s.value, s.step) for s in read_scalars(path, **kwargs)]


def make_ledger(root: Path, runs: list[tuple[str, str, str, str]]) -> dict[str, Path]:
    """A ledger under `root` with `runs` (experiment, id, name, state) and their run dirs;
    {id: run dir}."""
    dirs: dict[str, Path] = {}
    with Ledger(root) as ledger:
        for experiment in dict.fromkeys(r[0] for r in runs):
            ledger.record_experiment(experiment, "sft", {}, allow_dirty=False)
        for experiment, run_id, name, state in runs:
            run_dir = root / experiment / f"{name}-{run_id}"
            (run_dir / "logs").mkdir(parents=True)
            (run_dir / "run.json").write_text("{}")
            ledger.upsert_planned(experiment, [(run_id, name, name, str(run_dir), (), 1, {})], {})
            if state != L.NEW:
                ledger.set_state(run_id, state, executor="local", job_id=f"local:{1000 + len(dirs)}")
            dirs[run_id] = run_dir
    return dirs


TWO_EXPERIMENTS = [("alpha", "abc1234567", "sft", L.COMPLETED), ("alpha", "abc1239999", "eval", L.COMPLETED),
                   ("beta", "fed0000001", "sft", L.FAILED)]


# --- the event reader ------------------------------------------------------------

def test_the_reader_reads_what_summarywriter_writes_as_tensorboard_does(tmp_path):
    writer = summary_writer(tmp_path / "tb")
    for step in range(0, 50, 10):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)  # today's form: a float tensor
        writer.add_scalar("train/learning_rate", 1e-3, step, new_style=False)  # simple_value
        writer.add_scalar("eval/double", 0.25 + step, step, new_style=True, double_precision=True)
    writer.add_text("args/text_summary", "not a number", 0)
    np = pytest.importorskip("numpy")
    writer.add_histogram("weights", np.arange(10.0), 40)  # many numbers: not a scalar
    writer.add_hparams({"lr": 1e-3}, {"hparam/final/loss": 0.5}, run_name=".")
    writer.close()
    files = sorted((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert len(files) == 2  # add_hparams writes its own file
    for path in files:
        ref = reference_scalars(path)
        assert ref and mine(path) == ref
    kinds = {tag for tag, _, _ in mine(files[0])}
    assert kinds == {"train/loss", "train/learning_rate", "eval/double"}


def losses_file(tmp_path: Path, steps: int) -> Path:
    """One event file of `steps` train/loss scalars, as torch's SummaryWriter writes it."""
    writer = summary_writer(tmp_path)
    for step in range(steps):
        writer.add_scalar("train/loss", float(step), step)
    writer.close()
    (path,) = event_files(tmp_path)
    return path


def test_only_the_tail_of_a_long_file_is_read_and_its_records_are_found_again(tmp_path):
    path = losses_file(tmp_path, 400)
    ref = reference_scalars(path)
    for tail in (200, 1000, 4097):  # starts inside a record, anywhere
        got = mine(path, tail_bytes=tail)
        assert 0 < len(got) < len(ref) and got == ref[-len(got):]
        assert len(got) >= (tail - 100) // 100  # every complete record of the tail (each well under 100 bytes)


def test_a_record_being_written_or_a_broken_file_is_no_error(tmp_path):
    path = losses_file(tmp_path, 5)
    data = path.read_bytes()
    cut = tmp_path / "events.out.tfevents.cut"
    cut.write_bytes(data[:-7])  # the last record is still being written
    assert mine(cut) == reference_scalars(path)[:-1]
    cut.write_bytes(b"\x00" * 3 + b"garbage" * 40)
    assert mine(cut) == []
    assert read_scalars(tmp_path / "missing") == []


def test_the_checksum_is_tfrecords(tmp_path):
    """The masked CRC-32C of a record's length, as TensorBoard wrote it."""
    writer = summary_writer(tmp_path)
    writer.add_scalar("x", 1.0, 0)
    writer.close()
    (path,) = event_files(tmp_path)
    data = path.read_bytes()
    assert masked_crc32c(data[:8]) == struct.unpack("<I", data[8:12])[0]


def test_the_latest_training_loss_is_preferred_else_the_latest_scalar(tmp_path):
    writer = summary_writer(tmp_path / "tb")
    writer.add_scalar("train/loss", 2.0, 10)
    writer.add_scalar("train/loss", 0.53, 40)
    writer.add_scalar("train/grad_norm", 7.0, 40)  # written after the loss
    writer.close()
    latest = latest_scalar(tmp_path / "tb")
    assert latest is not None and (latest.tag, latest.step) == ("train/loss", 40)
    assert latest.value == pytest.approx(0.53)

    other = summary_writer(tmp_path / "other")
    other.add_scalar("generate/prompts", 512.0, 0)
    other.add_scalar("generate/seconds", 3.5, 0)
    other.add_hparams({"lr": 1e-3}, {"hparam/generate/prompts": 512.0}, run_name=".")
    other.close()
    latest = latest_scalar(tmp_path / "other")
    assert latest is not None and latest.tag == "generate/seconds"  # HParams' copies aside
    assert latest_scalar(tmp_path / "nothing") is None


def test_last_metric_shows_the_loss_while_training_and_the_final_metrics_after(tmp_path):
    writer = summary_writer(tmp_path / "tb")
    writer.add_scalar("train/loss", 0.5312, 40)
    writer.close()
    assert last_metric(str(tmp_path), running=True) == "loss=0.5312 @ step 40"
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "metrics.json").write_text(json.dumps({"train_loss": 0.61, "primary_metric": "x"}))
    assert last_metric(str(tmp_path)) == "train_loss=0.61"
    assert last_metric(str(tmp_path), running=True) == "loss=0.5312 @ step 40"
    assert last_metric(str(tmp_path / "elsewhere")) is None


def test_status_with_tensorboard_files_stays_light(tmp_path):
    """Reading event files imports neither tensorboard nor torch."""
    dirs = make_ledger(tmp_path, [("alpha", "abc1234567", "sft", L.COMPLETED)])
    writer = summary_writer(dirs["abc1234567"] / "tb")
    writer.add_scalar("train/loss", 0.5, 10)
    writer.close()
    probe = ("import sys, json\nfrom launch.cli import main\n"
             f"assert main(['status', '--root', {str(tmp_path)!r}]) == 0\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "loss=0.5 @ step 10" in done.stdout
    assert not loaded & {"torch", "tensorboard", "transformers", "numpy"}


# --- short ids, the experiment column, job ids ------------------------------------

def record(run_id: str, name: str, experiment: str = "e", **fields: Any) -> RunRecord:
    base: dict[str, Any] = dict(
        id=run_id, experiment=experiment, name=name, stage=name, run_dir="/x", depends_on=(), state=L.NEW,
        executor=None, job_id=None, task_index=None, shards=1, coordinates={}, token=None, submitted_at=None,
        started_at=None, ended_at=None, detail=None)
    return RunRecord(**{**base, **fields})


def test_short_ids_are_the_shortest_prefixes_find_resolves(tmp_path):
    runs = [record("abc1234567", "sft"), record("abc1239999", "eval"), record("fed0000001", "sft", "other"),
            record("0123456789", "abc1234-named-like-an-id")]
    short = short_ids(runs)
    assert short == {"abc1234567": "abc12345",  # not abc1234: a name starts with that
                     "abc1239999": "abc1239", "fed0000001": "fed000", "0123456789": "012345"}
    assert short_ids(runs, minimum=3)["fed0000001"] == "fed"
    make_ledger(tmp_path, [(r.experiment, r.id, r.name, L.NEW) for r in runs])
    with Ledger(tmp_path) as ledger:
        for run_id, prefix in short_ids(ledger.runs()).items():
            assert ledger.find(prefix).id == run_id
        with pytest.raises(L.LedgerError, match="matches 2 runs"):
            ledger.find("abc1234")


def test_several_experiments_get_an_experiment_column_and_short_ids(tmp_path, cli: Cli):
    make_ledger(tmp_path, TWO_EXPERIMENTS)
    code, out, _ = cli("status", "--root", tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["EXPERIMENT", "RUN", "ID"]
    rows = [tuple(line.split()[:3]) for line in lines[1:4]]
    assert rows == [("alpha", "sft", "abc1234"), ("alpha", "eval", "abc1239"), ("beta", "sft", "fed000")]
    assert "abc1234567" not in lines[1]
    # one experiment: said once above the table, whole ids
    code, out, _ = cli("status", "alpha", "--root", tmp_path)
    assert code == 0 and out.splitlines()[0].startswith("experiment alpha")
    assert out.splitlines()[1].split()[:2] == ["RUN", "ID"] and "abc1234567" in out and "EXPERIMENT" not in out


def test_job_ids_are_the_executors_own():
    assert job_label(record("a", "r", executor="slurm", job_id="123_4")) == "123_4"  # an array task
    assert job_label(record("a", "r", executor="slurm", job_id="123", shards=4)) == "123_[0-3]"  # a sharded run
    assert job_label(record("a", "r", executor="local", job_id="local:4242")) == "local:4242"
    assert job_label(record("a", "r")) == "-"


# --- --watch -----------------------------------------------------------------------

def test_watch_ends_when_every_run_has_finished(tmp_path, cli: Cli):
    make_ledger(tmp_path, TWO_EXPERIMENTS)
    code, out, err = cli("status", "--root", tmp_path, "--watch", "1")
    assert code == 0 and out.count("EXPERIMENT") == 1 and "every run has finished" in err
    assert "\x1b[" not in out  # no terminal: no screen clearing
    code, _, err = cli("status", "--root", tmp_path, "--watch", "--format", "json")
    assert code != 0 and "--watch" in err and "Traceback" not in err


def test_watch_ends_quietly_on_ctrl_c(tmp_path, cli: Cli, monkeypatch):
    make_ledger(tmp_path, [("alpha", "abc1234567", "sft", L.SUBMITTING)])  # stays active: no SLURM to ask

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("launch.cli.status.time.sleep", ctrl_c)
    code, out, err = cli("status", "alpha", "--root", tmp_path, "--watch")
    assert code == 0 and "SUBMITTING" in out and "interrupted" not in err and "Traceback" not in err


def test_watch_stops_when_nothing_runs_and_the_rest_was_never_launched(tmp_path, cli: Cli, monkeypatch):
    make_ledger(tmp_path, [("alpha", "abc1234567", "sft", L.COMPLETED), ("alpha", "abc1239999", "eval", L.NEW)])
    sleeps: list[float] = []
    monkeypatch.setattr("launch.cli.status.time.sleep", sleeps.append)
    code, out, err = cli("status", "alpha", "--root", tmp_path, "--watch", "7")
    assert code == 0 and sleeps == [7] and out.count("RUN ") == 2  # idle twice in a row
    assert "waiting for a launch" in err


# --- logs ---------------------------------------------------------------------------

def test_logs_take_experiment_and_run_and_name_the_candidates_of_an_ambiguous_name(tmp_path, cli: Cli):
    dirs = make_ledger(tmp_path, TWO_EXPERIMENTS)
    (dirs["abc1234567"] / "logs" / "node0.out").write_text("alpha's sft\n")
    (dirs["fed0000001"] / "logs" / "node0.out").write_text("beta's sft\n")
    code, _, err = cli("logs", "sft", "--root", tmp_path)
    assert code != 0 and "Traceback" not in err
    assert "sft in alpha (abc1234)" in err and "sft in beta (fed000)" in err
    code, out, _ = cli("logs", "beta", "sft", "--root", tmp_path)
    assert code == 0 and out == "beta's sft\n"
    code, out, _ = cli("logs", "abc1234", "--root", tmp_path)  # a short id, as status shows it
    assert code == 0 and out == "alpha's sft\n"
    code, _, err = cli("logs", "alpha", "--root", tmp_path)
    assert code != 0 and "labspec logs alpha RUN" in err and "sft, eval" in err
    code, _, err = cli("logs", "gamma", "sft", "--root", tmp_path)
    assert code != 0 and "no experiment or run 'gamma'" in err
    code, _, err = cli("logs", "beta", "eval", "--root", tmp_path)
    assert code != 0 and "no run 'eval' in experiment beta" in err


BARS = ("start\r\n"
        "\r  0%|          | 0/3\r 33%|███▎      | 1/3\r100%|██████████| 3/3\n"
        "done\r\n"
        "\r 50%|█████     | 1/2")  # a bar still being drawn: no newline yet
SHOWN = "start\n100%|██████████| 3/3\ndone\n 50%|█████     | 1/2"


def test_progress_bars_are_shown_at_their_last_state():
    assert last_states(BARS) == SHOWN
    assert last_states("a\rb\r") == "b"  # a carriage return at the end erases nothing


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_progress_bars_render_the_same_whatever_the_chunks(size):
    """Chunks cut lines, '\\r\\n' pairs and the bytes of '█' anywhere."""
    data = BARS.encode()
    reader = LogReader()
    out = "".join(reader.feed(data[i:i + size]) for i in range(0, len(data), size))
    assert out == SHOWN.rpartition("\n")[0] + "\n"
    assert reader.pending == " 50%|█████     | 1/2"
    assert out + reader.finish() == SHOWN + "\n"


def test_a_growing_bar_is_redrawn_in_place_on_a_terminal(tmp_path, capsys):
    log = tmp_path / "node0.err"
    log.write_bytes(b"loading\n\r 10%|#")
    logs = Logs(live=True)
    logs.show([log])
    with open(log, "ab") as fh:
        fh.write(b"\r 90%|#########")
    logs.show([log])
    with open(log, "ab") as fh:
        fh.write(b"\r100%|##########\r\nnext\n")
    logs.show([log])
    logs.finish()
    assert capsys.readouterr().out == ("loading\n 10%|#" "\r\x1b[K 90%|#########" "\r\x1b[K100%|##########\nnext\n")


def test_logs_err_shows_each_bar_once(tmp_path, cli: Cli):
    dirs = make_ledger(tmp_path, [("alpha", "abc1234567", "sft", L.COMPLETED)])
    (dirs["abc1234567"] / "logs" / "node0.err").write_bytes(BARS.encode())
    code, out, _ = cli("logs", "alpha", "sft", "--err", "--root", tmp_path)
    assert code == 0 and out == SHOWN + "\n"


def test_the_error_tail_of_a_failed_run_shows_bars_at_their_last_state(tmp_path, cli: Cli):
    dirs = make_ledger(tmp_path, [("beta", "fed0000001", "sft", L.FAILED)])
    (dirs["fed0000001"] / "logs" / "node0.err").write_bytes(BARS.encode() + b"\nValueError: boom\n")
    code, out, _ = cli("status", "beta", "--root", tmp_path)
    assert code == 0 and "  100%|██████████| 3/3\n" in out and " 33%" not in out and "ValueError: boom" in out
