#!/usr/bin/env bash
# A Debian 12 systemd host in a container, reached like a real machine: root over ssh with a key.
# Used by molecule (create/destroy) and the local rehearsal.
#
#   scripts/host-container.sh up   NAME SSH_PORT [APP_PORT]   start (or reuse) NAME, wait for ssh
#   scripts/host-container.sh wait NAME SSH_PORT              wait until ssh answers (after a restart)
#   scripts/host-container.sh down NAME                       remove NAME and its NAME-docker volume
#
# Ports are published on 127.0.0.1 only: SSH_PORT -> 22, APP_PORT -> 8000.
# The key pair lives in build/ssh/ (SSH_KEY_DIR overrides), generated once and reused.
# HOST_IMAGE (default webapp-host:bookworm) is built by scripts/base-images.sh when missing.
# WAIT_SECONDS (default 90) bounds the wait for ssh.
# HOST_DEVICE_RULE (e.g. 'b 7:* rmw') is passed as --device-cgroup-rule: tests use it to let the host
# open loop devices that they plug in as attached disks.
# HOST_PUBLISH (e.g. '127.0.0.1:18443:443 127.0.0.1:18081:80') publishes more ports, for HTTPS tests.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
image=${HOST_IMAGE:-webapp-host:bookworm}
key_dir=${SSH_KEY_DIR:-$here/build/ssh}
key=$key_dir/id_ed25519
wait_seconds=${WAIT_SECONDS:-90}

log() { printf 'host-container: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ssh_opts=(-i "$key" -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes)

ensure_key() {
  if [ ! -f "$key" ]; then
    mkdir -p "$key_dir" && chmod 700 "$key_dir"
    # Hosts started side by side: one makes the key, the others wait for it.
    (
      flock 8
      if [ ! -f "$key" ]; then
        ssh-keygen -q -t ed25519 -N '' -C "webapp-test-host" -f "$key"
        log "generated $key"
      fi
    ) 8>"$key_dir/.lock"
  fi
}

ensure_image() {
  docker image inspect "$image" >/dev/null 2>&1 || "$here/scripts/base-images.sh"
}

wait_ssh() {
  local name=$1 port=$2 deadline=$((SECONDS + wait_seconds))
  # sshd may accept connections before systemd has finished booting; wait for both.
  until ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 \
    'systemctl is-system-running --wait >/dev/null 2>&1; s=$(systemctl is-system-running); [ "$s" = running ] || [ "$s" = degraded ]' \
    2>/dev/null; do
    [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] \
      || die "container $name is not running; see: docker logs $name"
    [ $SECONDS -lt $deadline ] || die "ssh to root@127.0.0.1:$port did not answer within ${wait_seconds}s"
    sleep 1
  done
}

up() {
  local name=$1 ssh_port=$2 app_port=${3:-}
  ensure_key
  ensure_image
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
    docker rm -f "$name" >/dev/null 2>&1 || true
    local publish=(-p "127.0.0.1:$ssh_port:22")
    [ -n "$app_port" ] && publish+=(-p "127.0.0.1:$app_port:8000")
    for extra in ${HOST_PUBLISH:-}; do publish+=(-p "$extra"); done
    local devices=()
    [ -n "${HOST_DEVICE_RULE:-}" ] && devices+=(--device-cgroup-rule "$HOST_DEVICE_RULE")
    # --privileged is refused on these machines (CAP_SYS_RESOURCE is not granted): add every other
    # capability instead, which is what systemd plus an inner dockerd need.
    # route_localnet: the inner engine runs without userland proxy (the docker role's default) and then
    # needs route_localnet on its bridges for the host's own connections to published ports. A real host
    # lets dockerd set it; here /proc/sys is read-only, so new interfaces inherit it from the start.
    docker run -d --name "$name" --hostname "$name" \
      --cap-add=ALL --cap-drop=SYS_RESOURCE \
      --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
      --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      --tmpfs /run --tmpfs /run/lock \
      --sysctl net.ipv4.conf.default.route_localnet=1 \
      -v "$name-docker:/var/lib/docker" \
      "${publish[@]}" "${devices[@]}" "$image" >/dev/null
    log "started $name (ssh 127.0.0.1:$ssh_port${app_port:+, app 127.0.0.1:$app_port})"
  fi
  # The key goes in through the engine, not ssh: the image allows no passwords.
  docker exec -i "$name" sh -c 'umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys' <"$key.pub"
  wait_ssh "$name" "$ssh_port"
  log "$name is ready: ssh -i $key -p $ssh_port root@127.0.0.1"
}

down() {
  local name=$1
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  docker volume rm -f "$name-docker" >/dev/null 2>&1 || true
  log "removed $name"
}

[ $# -ge 2 ] || usage
cmd=$1 name=$2
case "$cmd" in
  up) [ $# -ge 3 ] || usage; up "$name" "$3" "${4:-}" ;;
  wait) [ $# -ge 3 ] || usage; ensure_key; wait_ssh "$name" "$3" ;;
  down) down "$name" ;;
  *) usage ;;
esac
