#!/usr/bin/env bash
# Build the local base images when their tags are missing (no registry is reachable here):
#   debian:bookworm-slim   a stand-in made with debootstrap from Debian packages
#   webapp-host:bookworm   a systemd host able to run Docker, for molecule and the local rehearsal
# Tags are the cache: an image that exists is never rebuilt. FORCE=1 rebuilds both.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf 'base-images: %s\n' "$*" >&2; }
have() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

"$here/scripts/ensure-docker.sh"

if ! have debian:bookworm-slim; then
  command -v debootstrap >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
  }
  root=$(mktemp -d /tmp/bookworm-root.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  log "debootstrap bookworm (minbase) into $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/tmp/debootstrap.log 2>&1 \
    || { tail -20 /tmp/debootstrap.log >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
  log "tagged debian:bookworm-slim"
fi

if ! have webapp-host:bookworm; then
  log "building webapp-host:bookworm"
  docker build -q -t webapp-host:bookworm -f "$here/images/host.Dockerfile" "$here/images" >/dev/null
  log "tagged webapp-host:bookworm"
fi
