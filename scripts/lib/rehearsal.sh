# shellcheck shell=bash disable=SC2154  # $here: set by the script that sources this file
# The local rehearsal's shared parts, sourced by scripts/rehearsal.sh and by deploy/*.sh --local:
# its names and ports, the AWS emulator (moto's server on 127.0.0.1), the host container that stands
# in for the instance, and ansible-playbook run with inventory/local and its vault password file.
# The caller sets $here (the repository root) before sourcing. Sourcing exports the emulator's dummy
# credentials, so only rehearsal runs source it, never a run against real AWS.
#
# Overrides: REHEARSAL_NAME (webapp-local), REHEARSAL_SSH_PORT (2200), REHEARSAL_APP_PORT (8000),
# REHEARSAL_MOTO_PORT (5000), REHEARSAL_IMAGE (webapp:local, built by `make image`),
# REHEARSAL_SUBNET (10.213.0.0/24, the scaled rehearsal's network).

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

# The scaled rehearsal (scripts/rehearsal.sh up --scale N): N hosts (REHEARSAL_NAME, then -2, -3... on
# ssh ports REHEARSAL_SSH_PORT, +1...), a PostgreSQL server standing in for RDS and a Caddy container
# standing in for the ALB's traffic on REHEARSAL_APP_PORT, all on one network of their own; the AWS side
# (instances, load balancer, target group, RDS) is the emulator's. Its settings for the playbooks are
# written to $rehearsal_state/scale.json, which every later rehearsal_play passes on.
rehearsal_scale_file() { printf '%s/scale.json' "$rehearsal_state"; }
rehearsal_net() { printf '%s-net' "$REHEARSAL_NAME"; }
rehearsal_member() { if [ "$1" -eq 1 ]; then printf '%s' "$REHEARSAL_NAME"; else printf '%s-%s' "$REHEARSAL_NAME" "$1"; fi; }
rehearsal_address() {
  docker inspect -f "{{(index .NetworkSettings.Networks \"$(rehearsal_net)\").IPAddress}}" "$1"
}

rehearsal_scale_up() {
  local count=$1 net pg password i member upstreams=""
  net=$(rehearsal_net)
  pg=$REHEARSAL_NAME-pg
  mkdir -p "$rehearsal_state"
  docker network inspect "$net" >/dev/null 2>&1 \
    || docker network create --subnet "${REHEARSAL_SUBNET:-10.213.0.0/24}" "$net" >/dev/null
  if [ ! -s "$rehearsal_state/pg-password" ]; then
    (umask 022 && python3 -c 'import secrets; print(secrets.token_urlsafe(24), end="")' >"$rehearsal_state/pg-password")
  fi
  password=$(cat "$rehearsal_state/pg-password")
  if [ "$(docker inspect -f '{{.State.Running}}' "$pg" 2>/dev/null)" != true ]; then
    docker rm -f "$pg" >/dev/null 2>&1 || true
    rehearsal_log "starting PostgreSQL ($pg) as the database RDS stands for"
    docker run -d --name "$pg" --network "$net" -e POSTGRES_USER=webapp -e POSTGRES_DB=webapp \
      -e POSTGRES_PASSWORD_FILE=/run/pg-password -v "$rehearsal_state/pg-password:/run/pg-password:ro" \
      webapp-postgres:15 >/dev/null
  fi
  for i in $(seq 1 "$count"); do
    member=$(rehearsal_member "$i")
    "$here/scripts/host-container.sh" up "$member" $((REHEARSAL_SSH_PORT + i - 1))
    docker network connect "$net" "$member" 2>/dev/null || true
    upstreams="$upstreams $(rehearsal_address "$member"):8000"
  done
  # The load balancer: round robin over the hosts' proxies, health-checking /health; a dial that fails
  # is retried on another host (it was never sent, so POSTs too).
  cat >"$rehearsal_state/lb.Caddyfile" <<CADDY
{
	admin off
	auto_https off
}
:8080 {
	reverse_proxy$upstreams {
		lb_policy round_robin
		lb_try_duration 30s
		lb_try_interval 100ms
		health_uri /health
		health_interval 2s
	}
}
CADDY
  chmod 0644 "$rehearsal_state/lb.Caddyfile"
  docker rm -f "$REHEARSAL_NAME-lb" >/dev/null 2>&1 || true
  docker run -d --name "$REHEARSAL_NAME-lb" --network "$net" -p "127.0.0.1:$REHEARSAL_APP_PORT:8080" \
    -v "$rehearsal_state/lb.Caddyfile:/etc/caddy/Caddyfile:ro" "$REHEARSAL_PROXY_IMAGE" >/dev/null
  for _ in $(seq 1 100); do
    docker exec "$pg" pg_isready -q -h 127.0.0.1 && break
    sleep 0.3
  done
  (umask 077 && python3 - "$count" "$password" "$(rehearsal_address "$pg")" "$REHEARSAL_IMAGE" \
    >"$(rehearsal_scale_file)") <<'PY'
import json, sys
count, password, address, image = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
print(json.dumps({
    "ec2_instance_count": count,
    # The app image with the PostgreSQL driver (make demo-scale builds webapp:postgres)
    "app_image": image,
    "app_database": "postgres",
    "rds_master_password": password,
    "app_database_password": password,
    # The PostgreSQL container, not the emulator's RDS endpoint (moto's RDS has no server behind it)
    "app_database_host": address,
    "app_database_sslmode": "disable",
    # moto describes no StorageThroughput, which rds_instance reads to update a gp3 instance
    "rds_storage_type": "gp2",
}))
PY
}

rehearsal_scale_down() {
  local i=2
  while docker inspect "$(rehearsal_member "$i")" >/dev/null 2>&1; do
    "$here/scripts/host-container.sh" down "$(rehearsal_member "$i")"
    i=$((i + 1))
  done
  docker rm -f -v "$REHEARSAL_NAME-lb" "$REHEARSAL_NAME-pg" >/dev/null 2>&1 || true
  docker network rm "$(rehearsal_net)" >/dev/null 2>&1 || true
  rm -f "$(rehearsal_scale_file)" "$rehearsal_state/pg-password" "$rehearsal_state/lb.Caddyfile"
}

rehearsal_host_running() {
  [ "$(docker inspect -f '{{.State.Running}}' "$REHEARSAL_NAME" 2>/dev/null)" = true ]
}

# ansible-playbook against the rehearsal: inventory/local and its vault password file (the vault
# there holds the rehearsal's own throwaway secret).
# A scaled rehearsal's settings (rehearsal_scale_up) go with every run.
rehearsal_play() {
  local scale=()
  [ -s "$(rehearsal_scale_file)" ] && scale=(-e "@$(rehearsal_scale_file)")
  "$rehearsal_bin/ansible-playbook" -i "$rehearsal_inventory" \
    --vault-password-file "$rehearsal_vault_password_file" "${scale[@]}" "$@"
}
