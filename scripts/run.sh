#!/usr/bin/env bash
# Set up (idempotent) and run the main job for STACK (default docker-ha), without the Pulumi CLI:
#   validate every shipped stack, check every stack with the policy pack (offline, over gRPC),
#   build the Docker lab on the local engine from the program's recorded resources, verify it live,
#   and leave it running (TTL 4h; `venv/bin/labctl teardown --stack docker-ha` removes it, `labctl reap` once expired).
# Rerunning replaces the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${STACK:-docker-ha}"
bash scripts/setup.sh
venv/bin/labctl validate --all
venv/bin/labctl check --all
venv/bin/labctl teardown --stack "$STACK" --keep-images >/dev/null 2>&1 || true
venv/bin/labctl realize --stack "$STACK" --ttl "${TTL:-4h}"
venv/bin/labctl verify --stack "$STACK" --failures-only
echo "lab $STACK is up and verified: $(venv/bin/labctl preview --stack "$STACK" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["resources"]), "resources")')"
echo "frontend: https://127.0.0.1:$(venv/bin/python -c "from abiquo_lab.labspec import load_stack; print(load_stack('$STACK').spec.docker_settings.https_port)")/ (self-signed)"
