#!/usr/bin/env bash
# Ensure the picture tools the tests use: Graphviz (`dot`, for `labctl graph -f svg|png`) and Debian's headless
# Chromium (the test that opens `labctl graph -f html` as a person would). Idempotent: installs only what is
# missing, with one `apt-get update` first; SKIP_TOOLS=1 skips it (the tests that need a tool then skip).
set -euo pipefail
log() { printf 'ensure-tools: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

missing=()
command -v dot >/dev/null || missing+=(graphviz)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  log "graphviz and chromium present"
  exit 0
fi
log "installing ${missing[*]}"
as_root apt-get update -qq || { log "apt-get update failed (need root)"; exit 1; }
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-dejavu-core >/dev/null
log "installed ${missing[*]}"
