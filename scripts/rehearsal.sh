#!/usr/bin/env bash
# The one-command local rehearsal of the whole pipeline: playbooks/site.yml with moto's server as the
# AWS API and a local systemd container as the "instance", reached over ssh on 127.0.0.1.
#
#   scripts/rehearsal.sh up      provision + configure + deploy (re-run: converges, changes nothing)
#   scripts/rehearsal.sh up --scale N   the same with N hosts behind a load balancer on PostgreSQL
#                                (app_database postgres, ec2_instance_count N; `make demo-scale`)
#   scripts/rehearsal.sh down    teardown.yml against the emulator, remove the hosts, stop the emulator
#   scripts/rehearsal.sh play PLAYBOOK [ARGS...]   any playbook against the rehearsal (deploy, backup...)
#
# Overrides: REHEARSAL_NAME (webapp-local), REHEARSAL_SSH_PORT (2200), REHEARSAL_APP_PORT (8000),
# REHEARSAL_MOTO_PORT (5000), REHEARSAL_IMAGE (webapp:local, built by `make image`).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# Names, ports, the emulator, the host and ansible-playbook for the rehearsal (shared with deploy/*.sh --local).
# shellcheck source-path=SCRIPTDIR source=lib/rehearsal.sh
. "$here/scripts/lib/rehearsal.sh"

die() { rehearsal_log "$*"; exit 1; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up)
    scale=1
    if [ "${1:-}" = --scale ]; then
      scale=${2:-}
      shift 2 || die "usage: scripts/rehearsal.sh up --scale N"
      [[ "$scale" =~ ^[1-9][0-9]?$ ]] || die "--scale takes a number of hosts (got '$scale')"
    fi
    docker image inspect "$REHEARSAL_IMAGE" >/dev/null 2>&1 \
      || die "image $REHEARSAL_IMAGE is missing: run 'make image' (or 'make demo', which builds it)"
    docker image inspect "$REHEARSAL_PROXY_IMAGE" >/dev/null 2>&1 \
      || die "image $REHEARSAL_PROXY_IMAGE is missing: run 'make image' (or 'make demo', which builds it)"
    rehearsal_moto_up
    if [ "$scale" -gt 1 ]; then
      rehearsal_scale_up "$scale"
    else
      rehearsal_scale_down
      rehearsal_host_up
    fi
    rehearsal_play "$here/playbooks/site.yml" "$@"
    url=http://127.0.0.1:$REHEARSAL_APP_PORT
    where="on the local \"instance\" $REHEARSAL_NAME"
    [ "$scale" -gt 1 ] && where="through the local load balancer $REHEARSAL_NAME-lb, on $scale hosts sharing PostgreSQL"
    cat <<MSG

The app is running at $url ($where, provisioned against moto).
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
    rehearsal_moto_up
    # provision.yml first, in the same run (it changes nothing when all is up): it fills the webapp
    # group and the instance facts (data volume id...) that the later playbook uses.
    book=$1; shift
    rehearsal_play "$here/playbooks/provision.yml" "$book" "$@"
    ;;
  down)
    if rehearsal_moto_answers; then
      rehearsal_play "$here/playbooks/teardown.yml" -e confirm_teardown=yes "$@" \
        || rehearsal_log "teardown against the emulator failed; removing the host anyway"
    fi
    rehearsal_host_down
    rehearsal_scale_down
    rehearsal_moto_down
    ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
