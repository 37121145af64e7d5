#!/usr/bin/env bash
# Back up the app's database now: playbooks/provision.yml (it changes nothing; it finds the instance
# and its data volume) then playbooks/backup.yml: a consistent, verified SQLite backup on the host,
# uploaded to S3 when backup_s3_bucket is set, and a snapshot of the data volume.
#
#   deploy/backup.sh [-i INVENTORY | --local] [--vault-password-file FILE | --ask-vault-pass] [-- ARGS]
#
# Refused while a deploy, rollback or restore holds the deploy lock. AWS credentials come from the
# usual places. With --local, the rehearsal's instance must be up and have a deployed app.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

parse_playbook_args "$@"
[ ${#positionals[@]} -eq 0 ] || usage_error "unexpected argument ${positionals[0]}"

check_playbook_target
if $local_mode; then
  require_local_tools
  load_rehearsal
  require_rehearsal_host
  rehearsal_moto_up
else
  require_tools ansible-playbook
fi

status=0
run_playbooks "$here/playbooks/provision.yml" "$here/playbooks/backup.yml" || status=$?
if [ "$status" -ne 0 ]; then
  say "the backup failed (ansible-playbook exit $status): see the message above"
  exit "$status"
fi
say "backed up, verified and snapshotted"
