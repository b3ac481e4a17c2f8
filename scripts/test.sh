#!/usr/bin/env bash
# The whole test suite: lint, types, tests. Used by `make test` and CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
VENV="${VENV:-.venv}"

"$VENV/bin/ruff" check .
"$VENV/bin/mypy"

set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest ran no test: that is a failure" >&2
  exit 1
fi
exit "$rc"
