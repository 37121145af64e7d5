#!/usr/bin/env bash
# Build the app image from this checkout (scripts/build-image.sh: the Dockerfile, with the wheels
# downloaded on this machine first) and print its reference on stdout, for deploy/update.sh:
#
#   IMAGE=$(deploy/build.sh)                   webapp:<git revision>
#   deploy/build.sh registry.example.com/webapp:1.4.2
#   deploy/build.sh [--allow-dirty] [IMAGE]
#
# IMAGE is NAME:TAG; the default is webapp: and the checkout's short git revision. A checkout with
# uncommitted changes to tracked files is refused, so that a tag always names committed code;
# --allow-dirty builds it anyway (the default tag then ends in -dirty). Untracked files are not
# looked at (git describe --dirty does the same); .dockerignore keeps build outputs out of the image.
# Pushing to a registry stays yours: docker push IMAGE.
#
# Exit status: the build's; 64 when an argument is wrong or the tree is dirty, 69 when a tool is
# missing (nothing has run then).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

allow_dirty=false
image=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) show_help ;;
    --allow-dirty) allow_dirty=true; shift ;;
    -*) usage_error "unknown option $1" ;;
    *)
      [ -z "$image" ] || usage_error "unexpected argument $1 (one IMAGE only)"
      image=$1
      shift
      ;;
  esac
done
if [ -n "$image" ]; then
  valid_image_ref "$image" || usage_error "IMAGE must be an image reference NAME:TAG (e.g. webapp:1.4.2), not '$image'"
fi

command -v git >/dev/null || unavailable "git is missing: install it (the tag and the dirty check come from git)"
# build-image.sh downloads the image's wheels with the controller's pip (PIP overrides).
[ -x "${PIP:-$here/.venv/bin/pip}" ] || unavailable "${PIP:-$here/.venv/bin/pip} is missing: run 'make venv' first (or set PIP)"
revision=$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null) \
  || unavailable "$here is not a git checkout with a commit: build.sh tags images by git revision"

dirty=$(git -C "$here" status --porcelain --untracked-files=no)
if [ -n "$dirty" ]; then
  $allow_dirty || usage_error "the checkout has uncommitted changes (git status); commit them, or build anyway with --allow-dirty"
  revision=$revision-dirty
fi
image=${image:-webapp:$revision}

status=0
"$here/scripts/build-image.sh" "$image" >&2 || status=$?
if [ "$status" -ne 0 ]; then
  say "building $image failed (exit $status): see the messages above"
  exit "$status"
fi
printf '%s\n' "$image"
