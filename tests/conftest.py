"""Shared helpers: write spec files into a temp dir, run the CLI in-process."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "specs" / "examples"

MINIMAL = """\
name: mini
kind: sft
model: {name_or_path: some/model}
data: {train: train.jsonl, test: test.jsonl}
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


SMOKE = """\
name: smoke
kind: smoke
output_root: {root}
resources: {{gpus_per_node: 0, procs_per_node: 1, cpus_per_task: 1, mem: 500M, time: "00:05:00"}}
launcher: torchrun
smoke: {{steps: 4, checkpoint_every: 2, chain: 1}}
"""


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[str]:
    """The project's own two-node SLURM test cluster (tests/cluster/up.sh), started once and
    stopped at the end of the session when this session started it (no daemon is left
    behind; a cluster that was already up, e.g. for a bench, is left as it was).

    Skipped without root locally; in CI (CI=true) it must come up.
    """
    import os
    import subprocess

    up = REPO / "tests" / "cluster" / "up.sh"
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("the SLURM test cluster needs root (tests/cluster/up.sh)")
    done = subprocess.run(["bash", str(up)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"SLURM test cluster did not come up:\n{done.stderr[-4000:]}")
    started_here = "already up" not in done.stderr
    conf = os.path.join(os.environ.get("LABSPEC_CLUSTER_DIR", "/tmp/labspec-cluster"), "etc", "slurm.conf")
    os.environ["SLURM_CONF"] = conf
    subprocess.run(["scancel", "--user", "root"], capture_output=True, check=False)  # leftovers of earlier runs
    yield conf
    if started_here:
        subprocess.run(["scancel", "--user", "root"], capture_output=True, check=False)
        subprocess.run(["bash", str(REPO / "tests" / "cluster" / "down.sh")], capture_output=True, timeout=120,
                       check=False)


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared offline fixtures (runtime.fixtures.tiny): tokenizer, tiny LMs, arithmetic data."""
    from runtime.fixtures.tiny import build_all

    root = tmp_path_factory.mktemp("assets")
    build_all(root)
    return root
