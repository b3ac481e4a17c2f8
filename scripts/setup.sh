#!/usr/bin/env bash
# Create .venv with labspec and everything it needs, on a fresh machine, idempotently.
#
# Order matters: the CPU build of torch goes in first, so that nothing later pulls a
# multi-GB CUDA build; DeepSpeed is built against that torch without build isolation
# (an isolated build would fetch its own torch).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

# KaTeX, which the formula evaluator's validity metric runs under Node.js (runtime/formula_dpo/katex).
KATEX=runtime/formula_dpo/katex
if [ ! -f "$KATEX/node_modules/katex/package.json" ] || [ "$KATEX/package-lock.json" -nt "$KATEX/node_modules" ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "setup: installing Node.js and npm (apt)" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "setup: Node.js (>= 18) and npm are needed for KaTeX; install them (e.g. apt install nodejs npm)" >&2
      exit 1
    fi
  fi
  echo "setup: installing KaTeX into $KATEX (npm ci)" >&2
  npm ci --prefix "$KATEX" --omit=dev --no-audit --no-fund --loglevel=error >/dev/null
fi

stamp="$VENV/.labspec-setup"
want="$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "setup: installing into $VENV (torch CPU build first)" >&2
"${PIP[@]}" install --upgrade pip setuptools wheel
"${PIP[@]}" install -c constraints.txt torch
if ! "$VENV/bin/python" -c 'import sys, torch; sys.exit(torch.version.cuda is not None)'; then
  echo "setup: a CUDA build of torch was installed; this machine needs the CPU build" >&2
  exit 1
fi
"${PIP[@]}" install -c constraints.txt -e '.[runtime,dev]'
"${PIP[@]}" install -c constraints.txt --no-build-isolation deepspeed
echo "$want" > "$stamp"
echo "setup: done ($("$VENV/bin/labspec" --version))" >&2
