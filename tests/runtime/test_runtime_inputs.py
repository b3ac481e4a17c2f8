"""Bad data files reach the runtime (issue 18): each ends as one line naming the file and
what to change, exit 2, before any training; never a traceback in the run's error log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.launch_helpers import run_task

pytestmark = pytest.mark.slow


def evaluate(tmp_path: Path, assets: Path, data: Path, model: Path | None = None) -> Any:
    return run_task(tmp_path / "run", "evaluate", {
        "model": {"name_or_path": str(model or assets / "tiny-lm"), "dtype": "fp32"},
        "data": {"path": str(data)},
        "evaluation": {"metrics": ["exact_match"], "normalizer": "basic", "answer_extractor": "none",
                       "generation": {"max_new_tokens": 4, "batch_size": 8}}})


def sft(tmp_path: Path, assets: Path, data: Path) -> Any:
    return run_task(tmp_path / "run", "sft", {
        "model": {"name_or_path": str(assets / "tiny-lm"), "dtype": "fp32"}, "data": {"path": str(data)},
        "sft": {}}, training={"max_steps": 1})


@pytest.mark.parametrize("task", [evaluate, sft])
def test_an_empty_data_file_is_one_line(tmp_path, tiny_assets, task):
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    done = task(tmp_path, tiny_assets, data)
    assert done.returncode == 2 and f"{data} is empty" in done.stderr and "Traceback" not in done.stderr


def test_non_utf8_bytes_name_their_line(tmp_path, tiny_assets):
    data = tmp_path / "latin1.jsonl"
    rows = [json.dumps({"prompt": "a", "completion": "b"}).encode()] * 2
    data.write_bytes(b"\n".join([*rows, '{"prompt": "caf\xe9", "completion": "b"}'.encode("latin-1")]) + b"\n")
    done = evaluate(tmp_path, tiny_assets, data)
    assert done.returncode == 2 and "line 3 is not UTF-8" in done.stderr and "byte 0xe9" in done.stderr
    assert "Traceback" not in done.stderr


def test_null_or_empty_prompts_are_skipped_and_counted(tmp_path, tiny_assets):
    data = tmp_path / "nulls.jsonl"
    rows = [{"prompt": "What is 1 + 1?", "completion": "2"}, {"prompt": None, "completion": "3"},
            {"prompt": "What is 2 + 2?", "completion": None}, {"prompt": "  ", "completion": "5"},
            {"prompt": "What is 3 + 3?", "completion": "6"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = evaluate(tmp_path, tiny_assets, data)
    assert done.returncode == 0, done.stderr
    assert "skipped 3 of 5 rows with an empty or null 'completion' or 'prompt'" in done.stderr
    predictions = (tmp_path / "run" / "outputs" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(p)["prompt"] for p in predictions] == ["What is 1 + 1?", "What is 3 + 3?"]
    assert json.loads((tmp_path / "run" / "outputs" / "metrics.json").read_text())["samples"] == 2


def test_null_chosen_answers_stop_dpo(tmp_path, tiny_assets):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n"
                     + json.dumps({"prompt": "q", "chosen": None, "rejected": "b"}) + "\n")
    done = run_task(tmp_path / "run", "dpo", {
        "model": {"name_or_path": str(tiny_assets / "tiny-lm"), "dtype": "fp32"}, "pairs": {"path": str(pairs)},
        "reference": {"name_or_path": str(tiny_assets / "tiny-lm")}, "dpo": {"beta": 0.1}}, training={"max_steps": 1})
    assert done.returncode == 2 and f"{pairs}: row 2 has an empty 'chosen'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_model_path_that_is_a_file_says_so(tmp_path, tiny_assets):
    weights = tiny_assets / "tiny-lm" / "config.json"
    done = evaluate(tmp_path, tiny_assets, tiny_assets / "tiny-chat" / "test.jsonl", model=weights)
    assert done.returncode == 2 and f"{weights} is a file, not a model" in done.stderr
    assert "does not exist" not in done.stderr


def test_image_lists_and_mllm_data_name_their_bad_lines(tmp_path):
    from runtime.core.errors import TaskInputError
    from runtime.radio.images import image_rows
    from runtime.radio.mllm import examples

    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(b'{"image": "a.png"}\n{"image": "caf\xe9.png"}\n')
    with pytest.raises(TaskInputError, match="line 2 is not UTF-8"):
        image_rows(str(latin), "radio.distill.data")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(TaskInputError, match="is empty"):
        image_rows(str(empty), "radio.distill.data")
    captions = tmp_path / "captions.jsonl"
    captions.write_text('{"image": "a.png", "caption": "a red square"}\n{"image": "b.png", "caption": null}\n')
    rows = examples(str(captions), "pretrain")
    assert [r["answer"] for r in rows] == ["a red square"]  # the null caption is skipped, never "None"


def test_ladder_task_files_are_checked_before_the_harness_reads_them(tmp_path):
    from pathlib import Path

    from runtime.core.errors import TaskInputError
    from runtime.size_ladder.benchmark import _check_task_file

    task = {"answer_field": "answer"}
    with pytest.raises(TaskInputError, match="is a directory, not a JSONL file"):
        _check_task_file(tmp_path, task, "ladder.suites.s: task 'add'")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(TaskInputError, match="is empty"):
        _check_task_file(empty, task, "ladder.suites.s: task 'add'")
    nulls = tmp_path / "nulls.jsonl"
    nulls.write_text('{"question": "1+1", "answer": "2"}\n{"question": "2+2", "answer": null}\n')
    with pytest.raises(TaskInputError, match="row 2 has an empty or missing 'answer'"):
        _check_task_file(Path(nulls), task, "ladder.suites.s: task 'add'")
