#!/usr/bin/env bash
# Headless Chromium for the tests that look at TensorBoard's HParams table and the report's
# HTML (tests/launch/test_tensorboard.py); without it they skip and say so. Debian's package.
set -euo pipefail
for exe in chromium chromium-browser google-chrome; do
  if command -v "$exe" >/dev/null; then exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing Chromium (apt)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "setup: no Chromium (apt install chromium); the screenshot tests will skip" >&2
fi
