#!/usr/bin/env bash
# Provision the EC2 instance and configure it: playbooks/provision.yml then playbooks/configure.yml
# (key pair, security group, instance, data volume, Elastic IP; Docker, log rotation, the nightly
# backup timer). Running it again changes nothing.
#
#   deploy/setup-ec2.sh [-i INVENTORY | --local] [--vault-password-file FILE | --ask-vault-pass] [-- ARGS]
#
# AWS credentials come from the usual places (AWS_PROFILE, ~/.aws, an instance role). With --local
# it starts the AWS emulator and the host container first. Next: deploy/update.sh IMAGE.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

parse_playbook_args "$@"
[ ${#positionals[@]} -eq 0 ] || usage_error "unexpected argument ${positionals[0]}"

check_playbook_target
if $local_mode; then
  require_local_tools
  load_rehearsal
  rehearsal_moto_up
  rehearsal_host_up
else
  require_tools ansible-playbook
fi

status=0
run_playbooks "$here/playbooks/provision.yml" "$here/playbooks/configure.yml" || status=$?
if [ "$status" -ne 0 ]; then
  say "provisioning or configuring failed (ansible-playbook exit $status): see the message above"
  exit "$status"
fi
say "the instance is provisioned and configured; next: deploy/update.sh$($local_mode && echo ' --local') IMAGE"
