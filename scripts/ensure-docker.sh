#!/usr/bin/env bash
# Make a Docker engine available on this machine: install Debian's docker.io when dockerd is
# missing, start dockerd when nothing answers on the socket, then wait until it does.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ensure_compose() {
  # docker-compose.yml is tested with Debian's docker-compose when no Compose v2 plugin is there.
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || {
    log "installing docker-compose from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
  }
}

if engine_up; then
  ensure_compose
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! engine_up; then
  # Under systemd the unit does it; elsewhere (containers, CI sandboxes) start dockerd ourselves.
  if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
    log "started docker.service"
  else
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
fi

for _ in $(seq 1 60); do
  if engine_up; then
    ensure_compose
    exit 0
  fi
  sleep 1
done
log "the Docker engine did not answer within 60 s; see /var/log/dockerd.log"
exit 1
