#!/usr/bin/env bash
# Ensure a running Docker engine and the base image the lab's Dockerfiles build FROM.
# Idempotent: safe to run on a fresh machine, in CI, or on a laptop that already has both.
#   BASE_IMAGE   image the Dockerfiles start from (default debian:bookworm-slim)
#   SUITE        Debian suite for a locally made base image (default bookworm)
set -euo pipefail
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
SUITE="${SUITE:-bookworm}"
CACHE_DIR="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/abiquo-lab}"
log() { printf 'ensure-docker: %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  as_root apt-get update -qq || { log "apt-get update failed (need root)"; return 1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

engine_up() { docker info >/dev/null 2>&1; }

start_engine() {
  engine_up && return 0
  log "starting dockerd"
  # close inherited fds (lock files of the caller) so dockerd does not hold them
  as_root bash -c 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null; nohup dockerd >/var/log/dockerd.log 2>&1 &' 
  for _ in $(seq 1 60); do engine_up && return 0; sleep 0.5; done
  log "dockerd did not come up; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2 || true
  return 1
}

ensure_base_image() {
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && { log "base image $BASE_IMAGE present"; return 0; }
  if timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then log "pulled $BASE_IMAGE"; return 0; fi
  log "cannot pull $BASE_IMAGE; making it locally with mmdebstrap ($SUITE minbase)"
  mkdir -p "$CACHE_DIR"
  local tar="$CACHE_DIR/$SUITE-minbase.tar" tmp="$CACHE_DIR/$SUITE-minbase.tar.part"
  if [ ! -s "$tar" ]; then
    rm -f "$tmp"
    as_root mmdebstrap --variant=minbase --format=tar --quiet "$SUITE" "$tmp"
    mv "$tmp" "$tar"   # only a finished rootfs is ever imported
  fi
  docker import --change 'CMD ["bash"]' "$tar" "$BASE_IMAGE" >/dev/null
  log "imported $BASE_IMAGE from $tar"
}

install_packages
start_engine
ensure_base_image
