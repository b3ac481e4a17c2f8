"""The compile/launch path never imports torch and friends (instant on a login node)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import EXAMPLES, REPO

HEAVY = ("torch", "transformers", "trl", "deepspeed", "datasets", "peft", "accelerate", "tensorboard")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    import json

    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_specs_compiler_launch_is_light():
    loaded = _modules_after("import specs, compiler, launch, launch.cli, launch.emit")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_a_full_compile_through_the_cli_is_light():
    code = (f"from launch.cli import main\n"
            f"import contextlib, io\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['compile', {str(EXAMPLES / 'spin.yaml')!r}, '--format', 'json']) == 0\n"
            f"    assert main(['validate', {str(EXAMPLES / 'radio.yaml')!r}]) == 0\n")
    loaded = _modules_after(code)
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_help_does_not_even_load_pydantic_models():
    loaded = _modules_after("from launch.cli import build_parser\nbuild_parser().format_help()")
    assert "specs.loader" not in loaded and "compiler.compile" not in loaded
