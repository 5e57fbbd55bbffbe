#!/usr/bin/env bash
# Set up (idempotent) and run the main job for STACK (default docker-ha):
# validate every shipped stack, then print the stack's plan: its connection matrix and topology.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${STACK:-docker-ha}"
SKIP_DOCKER="${SKIP_DOCKER:-1}" bash scripts/setup.sh
venv/bin/labctl validate --all
venv/bin/labctl matrix --stack "$STACK"
venv/bin/labctl graph --stack "$STACK"
