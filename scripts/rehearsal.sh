#!/usr/bin/env bash
# The one-command local rehearsal of the whole pipeline: playbooks/site.yml with moto's server as the
# AWS API and a local systemd container as the "instance", reached over ssh on 127.0.0.1.
#
#   scripts/rehearsal.sh up      provision + configure + deploy (re-run: converges, changes nothing)
#   scripts/rehearsal.sh down    teardown.yml against the emulator, remove the host, stop the emulator
#   scripts/rehearsal.sh play PLAYBOOK [ARGS...]   any playbook against the rehearsal (deploy, backup...)
#
# Overrides: REHEARSAL_NAME (webapp-local), REHEARSAL_SSH_PORT (2200), REHEARSAL_APP_PORT (8000),
# REHEARSAL_MOTO_PORT (5000), REHEARSAL_IMAGE (webapp:local, built by `make image`).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
export REHEARSAL_NAME=${REHEARSAL_NAME:-webapp-local}
export REHEARSAL_SSH_PORT=${REHEARSAL_SSH_PORT:-2200}
export REHEARSAL_APP_PORT=${REHEARSAL_APP_PORT:-8000}
export REHEARSAL_MOTO_PORT=${REHEARSAL_MOTO_PORT:-5000}
export REHEARSAL_IMAGE=${REHEARSAL_IMAGE:-webapp:local}
state=$here/build/rehearsal/$REHEARSAL_NAME
bin=$here/.venv/bin
# The emulator accepts any credentials; these never leave this machine.
export AWS_ACCESS_KEY_ID=rehearsal AWS_SECRET_ACCESS_KEY=rehearsal AWS_DEFAULT_REGION=us-east-1
export ANSIBLE_CONFIG=$here/ansible.cfg

log() { printf 'rehearsal: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

moto_up() {
  local url=http://127.0.0.1:$REHEARSAL_MOTO_PORT
  curl -fsS -o /dev/null "$url/moto-api/" 2>/dev/null && return 0
  mkdir -p "$state"
  log "starting the AWS emulator on $url (log: $state/moto.log)"
  nohup "$bin/moto_server" -H 127.0.0.1 -p "$REHEARSAL_MOTO_PORT" >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "$url/moto-api/" 2>/dev/null && return 0
    sleep 0.2
  done
  die "the emulator did not answer on $url; see $state/moto.log"
}

moto_down() {
  [ -f "$state/moto.pid" ] || return 0
  kill "$(cat "$state/moto.pid")" 2>/dev/null || true
  rm -f "$state/moto.pid"
}

play() {
  "$bin/ansible-playbook" -i "$here/inventory/local" \
    --vault-password-file "$here/inventory/local/vault-password" "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up)
    docker image inspect "$REHEARSAL_IMAGE" >/dev/null 2>&1 \
      || die "image $REHEARSAL_IMAGE is missing: run 'make image' (or 'make demo', which builds it)"
    moto_up
    "$here/scripts/host-container.sh" up "$REHEARSAL_NAME" "$REHEARSAL_SSH_PORT" "$REHEARSAL_APP_PORT"
    play "$here/playbooks/site.yml" "$@"
    url=http://127.0.0.1:$REHEARSAL_APP_PORT
    cat <<MSG

The app is running at $url (on the local "instance" $REHEARSAL_NAME, provisioned against moto).
Try it (writes need a token: scripts/rehearsal.sh play playbooks/token.yml -e token_name=me):
  curl -s $url/health
  curl -s -X POST $url/api/items -H 'content-type: application/json' -H 'Authorization: Bearer TOKEN' \\
       -d '{"name": "first", "data": {"n": 1}}'
  curl -s $url/api/items
Run any playbook against it:  scripts/rehearsal.sh play playbooks/backup.yml
Tear it down:                 make demo-down
MSG
    ;;
  play)
    [ $# -ge 1 ] || die "usage: scripts/rehearsal.sh play PLAYBOOK [ARGS...]"
    moto_up
    # provision.yml first, in the same run (it changes nothing when all is up): it fills the webapp
    # group and the instance facts (data volume id...) that the later playbook uses.
    book=$1; shift
    play "$here/playbooks/provision.yml" "$book" "$@"
    ;;
  down)
    if curl -fsS -o /dev/null "http://127.0.0.1:$REHEARSAL_MOTO_PORT/moto-api/" 2>/dev/null; then
      play "$here/playbooks/teardown.yml" -e confirm_teardown=yes "$@" || log "teardown against the emulator failed; removing the host anyway"
    fi
    "$here/scripts/host-container.sh" down "$REHEARSAL_NAME"
    moto_down
    ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
