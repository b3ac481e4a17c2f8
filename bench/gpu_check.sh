#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py): the rehearsal at real shapes on one GPU, for SFT and
# DPO at Qwen2.5-0.5B and one distillation with ViT-B teachers; tokens/s, MFU and peak
# memory next to labspec's estimate; then SFT+LoRA step time without a stop callback, with the
# old per-step sync and with the runtime's check (bench/stop_check.py). Prepared to run as one short call when a GPU machine is
# lent (about 5 minutes on an H200). `--cpu` runs it at rehearsal size here.
#
# usage: bench/gpu_check.sh [--cpu] [--steps N] [--root DIR]
# PYTHON: the interpreter with labspec's dependencies (default: .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
exec "$python" -m bench.gpu_check "$@"
