#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, Docker tests included.
# LAB_REQUIRE_DOCKER=1 and LAB_REQUIRE_TOOLS=1 (the defaults here) turn a missing Docker engine, Graphviz or Chromium
# into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LAB_REQUIRE_DOCKER="${LAB_REQUIRE_DOCKER:-1}"
export LAB_REQUIRE_TOOLS="${LAB_REQUIRE_TOOLS:-1}"      # Graphviz and Chromium (scripts/ensure-tools.sh): missing is a failure
export TESTCONTAINERS_RYUK_DISABLED=true
exec venv/bin/python -m pytest "$@"
