#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, Docker tests included.
# LAB_REQUIRE_DOCKER=1 (the default here) turns a missing Docker engine into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LAB_REQUIRE_DOCKER="${LAB_REQUIRE_DOCKER:-1}"
export TESTCONTAINERS_RYUK_DISABLED=true
exec venv/bin/python -m pytest "$@"
