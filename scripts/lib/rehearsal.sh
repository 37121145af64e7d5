# shellcheck shell=bash disable=SC2154  # $here: set by the script that sources this file
# The local rehearsal's shared parts, sourced by scripts/rehearsal.sh and by deploy/*.sh --local:
# its names and ports, the AWS emulator (moto's server on 127.0.0.1), the host container that stands
# in for the instance, and ansible-playbook run with inventory/local and its vault password file.
# The caller sets $here (the repository root) before sourcing. Sourcing exports the emulator's dummy
# credentials, so only rehearsal runs source it, never a run against real AWS.
#
# Overrides: REHEARSAL_NAME (webapp-local), REHEARSAL_SSH_PORT (2200), REHEARSAL_APP_PORT (8000),
# REHEARSAL_MOTO_PORT (5000), REHEARSAL_IMAGE (webapp:local, built by `make image`).

export REHEARSAL_NAME=${REHEARSAL_NAME:-webapp-local}
export REHEARSAL_SSH_PORT=${REHEARSAL_SSH_PORT:-2200}
export REHEARSAL_APP_PORT=${REHEARSAL_APP_PORT:-8000}
export REHEARSAL_MOTO_PORT=${REHEARSAL_MOTO_PORT:-5000}
export REHEARSAL_IMAGE=${REHEARSAL_IMAGE:-webapp:local}
export REHEARSAL_PROXY_IMAGE=${REHEARSAL_PROXY_IMAGE:-webapp-proxy:2.11.7}
rehearsal_state=$here/build/rehearsal/$REHEARSAL_NAME
rehearsal_bin=$here/.venv/bin
rehearsal_inventory=$here/inventory/local
rehearsal_vault_password_file=$rehearsal_inventory/vault-password
# The emulator accepts any credentials; these never leave this machine.
export AWS_ACCESS_KEY_ID=rehearsal AWS_SECRET_ACCESS_KEY=rehearsal AWS_DEFAULT_REGION=us-east-1
export ANSIBLE_CONFIG=$here/ansible.cfg

rehearsal_log() { printf 'rehearsal: %s\n' "$*" >&2; }

rehearsal_moto_url() { printf 'http://127.0.0.1:%s' "$REHEARSAL_MOTO_PORT"; }

rehearsal_moto_answers() { curl -fsS -o /dev/null "$(rehearsal_moto_url)/moto-api/" 2>/dev/null; }

# Start the emulator unless it answers already (it keeps its state in memory until stopped).
rehearsal_moto_up() {
  local url
  url=$(rehearsal_moto_url)
  rehearsal_moto_answers && return 0
  mkdir -p "$rehearsal_state"
  rehearsal_log "starting the AWS emulator on $url (log: $rehearsal_state/moto.log)"
  nohup "$rehearsal_bin/moto_server" -H 127.0.0.1 -p "$REHEARSAL_MOTO_PORT" >"$rehearsal_state/moto.log" 2>&1 &
  echo $! >"$rehearsal_state/moto.pid"
  for _ in $(seq 1 50); do
    rehearsal_moto_answers && return 0
    sleep 0.2
  done
  rehearsal_log "the emulator did not answer on $url; see $rehearsal_state/moto.log"
  return 1
}

rehearsal_moto_down() {
  [ -f "$rehearsal_state/moto.pid" ] || return 0
  kill "$(cat "$rehearsal_state/moto.pid")" 2>/dev/null || true
  rm -f "$rehearsal_state/moto.pid"
}

rehearsal_host_up() {
  "$here/scripts/host-container.sh" up "$REHEARSAL_NAME" "$REHEARSAL_SSH_PORT" "$REHEARSAL_APP_PORT"
}

rehearsal_host_down() { "$here/scripts/host-container.sh" down "$REHEARSAL_NAME"; }

rehearsal_host_running() {
  [ "$(docker inspect -f '{{.State.Running}}' "$REHEARSAL_NAME" 2>/dev/null)" = true ]
}

# ansible-playbook against the rehearsal: inventory/local and its vault password file (the vault
# there holds the rehearsal's own throwaway secret).
rehearsal_play() {
  "$rehearsal_bin/ansible-playbook" -i "$rehearsal_inventory" \
    --vault-password-file "$rehearsal_vault_password_file" "$@"
}
