"""Shared helpers: write spec files into a temp dir, run the CLI in-process."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "specs" / "examples"

MINIMAL = """\
name: mini
kind: sft
model: {name_or_path: some/model}
data: {train: train.jsonl}
resources: {gpus_per_node: 2, time: "01:00:00"}
training: {global_batch_size: 8, micro_batch_size: 2}
"""


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """write_spec(text, name="spec.yaml") -> path of a dedented spec file in tmp_path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """cli("compile", path, ...) -> (exit code, stdout, stderr), run in-process."""
    from launch.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse --help / usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
