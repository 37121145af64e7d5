#!/usr/bin/env bash
# Deploy the app image IMAGE (NAME:TAG, e.g. the one deploy/build.sh printed): playbooks/deploy.yml
# with app_image=IMAGE. One deploy is one transaction: when the new release fails its health gate,
# the deploy undoes itself, the previous release serves again, and this script exits non-zero with
# the deploy's own message.
#
#   deploy/update.sh [-i INVENTORY | --local] [--vault-password-file FILE | --ask-vault-pass] IMAGE [-- ARGS]
#
# The inventory's webapp group names the host (put the Elastic IP that setup-ec2.sh printed in its
# hosts.yml). With --local, the rehearsal's instance must be up (deploy/setup-ec2.sh --local) and the
# image must be in the local Docker engine; the emulator is started when it is not running.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

parse_playbook_args "$@"
[ ${#positionals[@]} -ge 1 ] || usage_error "which image? give IMAGE as NAME:TAG (e.g. webapp:1.4.2)"
[ ${#positionals[@]} -eq 1 ] || usage_error "unexpected argument ${positionals[1]}"
image=${positionals[0]}
valid_image_ref "$image" || usage_error "IMAGE must be an image reference NAME:TAG (e.g. webapp:1.4.2), not '$image'"

check_playbook_target
if $local_mode; then
  require_local_tools
  load_rehearsal
  docker image inspect "$image" >/dev/null 2>&1 \
    || usage_error "the local Docker engine has no image $image: build it with deploy/build.sh $image"
  require_rehearsal_host
  rehearsal_moto_up
  # provision.yml first, in the same run (it changes nothing): it puts the rehearsal's instance in
  # the webapp group.
  books=("$here/playbooks/provision.yml" "$here/playbooks/deploy.yml")
else
  require_tools ansible-playbook
  books=("$here/playbooks/deploy.yml")
fi

status=0
run_playbooks "${books[@]}" -e "app_image=$image" || status=$?
if [ "$status" -ne 0 ]; then
  say "deploying $image failed (ansible-playbook exit $status): the deploy's message is above"
  exit "$status"
fi
if $local_mode; then
  say "$image is deployed: http://127.0.0.1:$REHEARSAL_APP_PORT/health"
else
  say "$image is deployed"
fi
