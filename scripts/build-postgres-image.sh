#!/usr/bin/env bash
# Build the PostgreSQL server image of the fleet rehearsal (images/postgres.Dockerfile): Debian's
# postgresql-15 on the local base image, no registry needed. Skipped when the tag exists (REBUILD=1
# rebuilds).
#   scripts/build-postgres-image.sh [IMAGE]      default webapp-postgres:15
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-webapp-postgres:15}
if [ -z "${REBUILD:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
"$here/scripts/base-images.sh"
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$here/images/postgres.Dockerfile" "$context/Dockerfile"
cp "$here/images/postgres-entrypoint.sh" "$context/"
docker build -q -t "$image" --build-arg BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}" "$context" >/dev/null
echo "build-postgres-image: built $image" >&2
