# shellcheck shell=bash
# What deploy/*.sh share: the common options, the checks made before anything runs, and running the
# playbooks (against an inventory, or against the local rehearsal with --local) with their exit status
# passed through. The scripts are front doors: the work is done by scripts/build-image.sh and the
# playbooks, never here.
#
# Exit status: the playbook's (or the image build's); 64 when an argument is wrong or a precondition
# is not met, 69 when a tool is missing. Nothing has run when the status is 64 or 69.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prog=$(basename "$0" .sh)
export ANSIBLE_CONFIG=$here/ansible.cfg

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
usage_error() {
  say "$*"
  say "see: $0 --help"
  exit 64
}
unavailable() {
  say "$*"
  exit 69
}

# The script's own header comment, then the options every playbook script takes.
show_help() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
  if [ "${1:-}" = playbook ]; then
    cat <<'HELP'

Options:
  -i, --inventory INVENTORY    inventory to run against (default: inventory/production)
  --local                      the local rehearsal instead: moto's server as AWS and a systemd container
                               as the instance, inventory/local and its vault password file; the
                               REHEARSAL_NAME, REHEARSAL_SSH_PORT, REHEARSAL_APP_PORT and
                               REHEARSAL_MOTO_PORT variables choose its names and ports
  --vault-password-file FILE   the vault password from FILE (as ansible-playbook takes it)
  --ask-vault-pass             ask for the vault password (the default on a terminal, unless
                               ANSIBLE_VAULT_PASSWORD_FILE is set)
  -h, --help                   this text
  -- ARGS...                   passed to ansible-playbook as they are (e.g. -- -v, -- -e name=value)

Exit status: the playbook's; 64 when an argument is wrong or a precondition is not met, 69 when a
tool is missing (nothing has run then).
HELP
  fi
  exit 0
}

# An image reference NAME:TAG (optionally with a registry host[:port]/ in front), as docker takes it.
valid_image_ref() {
  [[ $1 =~ ^([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]
}

# A tool from the project's .venv (make venv) when it has one, else from PATH.
find_tool() {
  if [ -x "$here/.venv/bin/$1" ]; then
    printf '%s\n' "$here/.venv/bin/$1"
  else
    command -v "$1" 2>/dev/null
  fi
}

require_tools() {
  local tool
  for tool in "$@"; do
    find_tool "$tool" >/dev/null || unavailable "$tool is missing: run 'make venv' (Ansible, moto and the AWS CLI go into .venv) or install it"
  done
}

# --- the options of the playbook scripts (setup-ec2.sh, update.sh, backup.sh) ---------------------

inventory=""
local_mode=false
vault_file=""
ask_vault=false
positionals=()
extra_args=()

parse_playbook_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      -h | --help) show_help playbook ;;
      -i | --inventory)
        [ $# -ge 2 ] || usage_error "$1 needs an inventory"
        inventory=$2
        shift 2
        ;;
      --inventory=*) inventory=${1#*=}; shift ;;
      --local) local_mode=true; shift ;;
      --vault-password-file)
        [ $# -ge 2 ] || usage_error "$1 needs a file"
        vault_file=$2
        shift 2
        ;;
      --vault-password-file=*) vault_file=${1#*=}; shift ;;
      --ask-vault-pass) ask_vault=true; shift ;;
      --) shift; extra_args=("$@"); break ;;
      -*) usage_error "unknown option $1" ;;
      *) positionals+=("$1"); shift ;;
    esac
  done
  if $local_mode; then
    [ -z "$inventory" ] || usage_error "--local runs against inventory/local: give either --local or -i"
    if [ -n "$vault_file" ] || $ask_vault; then
      usage_error "--local uses the rehearsal's vault password file: leave out --vault-password-file and --ask-vault-pass"
    fi
  fi
}

# The inventory and the vault password of a run against an inventory (after the script's own
# argument checks, so that a missing IMAGE is reported first).
check_playbook_target() {
  $local_mode && return 0
  inventory=${inventory:-$here/inventory/production}
  [ -e "$inventory" ] || usage_error "inventory $inventory does not exist"
  if [ -n "$vault_file" ] && $ask_vault; then
    usage_error "give either --vault-password-file or --ask-vault-pass, not both"
  fi
  if [ -n "$vault_file" ]; then
    [ -f "$vault_file" ] && [ -r "$vault_file" ] || usage_error "vault password file $vault_file is not a readable file"
  elif ! $ask_vault && [ -z "${ANSIBLE_VAULT_PASSWORD_FILE:-}" ]; then
    # As the playbooks are run: ansible-playbook asks when told to; without a terminal it cannot.
    [ -t 0 ] || usage_error "no vault password: give --vault-password-file FILE or --ask-vault-pass (or set ANSIBLE_VAULT_PASSWORD_FILE)"
    ask_vault=true
  fi
}

# Tools a --local run needs; the rehearsal runs the .venv's ansible-playbook and moto_server.
require_local_tools() {
  local tool
  for tool in ansible-playbook moto_server; do
    [ -x "$here/.venv/bin/$tool" ] || unavailable "$here/.venv/bin/$tool is missing: run 'make venv' first (--local runs the rehearsal from .venv)"
  done
  for tool in docker curl ssh; do
    command -v "$tool" >/dev/null || unavailable "$tool is missing: --local needs it (make demo installs Docker)"
  done
}

# The rehearsal's instance must be up (deploy/setup-ec2.sh --local, or make demo) for a deploy or
# a backup against it.
require_rehearsal_host() {
  rehearsal_host_running \
    || usage_error "the rehearsal's instance $REHEARSAL_NAME is not running: start it with deploy/setup-ec2.sh --local (or make demo)"
}

load_rehearsal() {
  # shellcheck source-path=SCRIPTDIR source=../scripts/lib/rehearsal.sh
  . "$here/scripts/lib/rehearsal.sh"
}

# ansible-playbook PLAYBOOK... [ARGS] against the chosen inventory; its exit status is returned.
run_playbooks() {
  local status=0
  if $local_mode; then
    rehearsal_play "$@" "${extra_args[@]}" || status=$?
  else
    local vault=()
    [ -n "$vault_file" ] && vault=(--vault-password-file "$vault_file")
    $ask_vault && vault=(--ask-vault-pass)
    local playbook_bin
    playbook_bin=$(find_tool ansible-playbook)
    # Its directory first on PATH: Ansible finds its helper programs (ansible-connection...) by name.
    PATH="$(dirname "$playbook_bin"):$PATH" "$playbook_bin" -i "$inventory" "${vault[@]}" "$@" "${extra_args[@]}" \
      || status=$?
  fi
  return "$status"
}
