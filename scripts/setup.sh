#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh machine: the project's virtualenv (the one Pulumi.yaml names),
# the pinned packages, labctl, -- unless SKIP_TOOLS=1 -- Graphviz and headless Chromium for the picture tests, and
# -- unless SKIP_DOCKER=1 -- a running Docker engine with the base image.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x venv/bin/python ]; then
  "$PYTHON" -m venv venv
fi
venv/bin/python -m pip install -q --upgrade pip >/dev/null
venv/bin/python -m pip install -q -r requirements-dev.txt
venv/bin/python -m pip install -q --no-deps -e .
if [ "${SKIP_TOOLS:-0}" != 1 ]; then
  bash scripts/ensure-tools.sh
fi
if [ "${SKIP_DOCKER:-0}" != 1 ]; then
  bash scripts/ensure-docker.sh
fi
echo "setup: ok (venv/, labctl at venv/bin/labctl)"
