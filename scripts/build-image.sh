#!/usr/bin/env bash
# Build the app image. The Dockerfile is the one users with a registry build as is; here the Python
# index is only reachable from the controller, so the wheels are downloaded first into .wheels/
# (the Dockerfile installs from there when wheels are present, from the index otherwise).
#   scripts/build-image.sh [IMAGE]            default webapp:local
#   BASE_IMAGE=...  VERSION=...               optional build arguments
#   WITH_POSTGRES=true                        include the PostgreSQL driver (psycopg)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-webapp:local}
pip=${PIP:-$here/.venv/bin/pip}
wheels=$here/.wheels
stamp=$wheels/.requirements.sha256
want=$(cat "$here/app/requirements.txt" "$here/app/requirements-postgres.txt" | sha256sum | cut -d' ' -f1)

case "$(uname -m)" in
  x86_64) plats=(manylinux2014_x86_64 manylinux_2_28_x86_64 manylinux_2_17_x86_64) ;;
  aarch64) plats=(manylinux2014_aarch64 manylinux_2_28_aarch64 manylinux_2_17_aarch64) ;;
  *) echo "build-image: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

# Parallel test workers build images at once: one downloads the wheels, the others wait for it.
mkdir -p "$here/build"
exec 9>"$here/build/.wheels.lock"
flock 9
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$wheels" && mkdir -p "$wheels"
  # The image runs Debian 12's python3 (3.11); download wheels for exactly that interpreter.
  "$pip" download -q -d "$wheels" -r "$here/app/requirements.txt" -r "$here/app/requirements-postgres.txt" \
    --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    "${plats[@]/#/--platform=}" --platform=any
  echo "$want" >"$stamp"
fi
flock -u 9

"$here/scripts/base-images.sh"
version=${VERSION:-$(git -C "$here" describe --always --dirty 2>/dev/null || echo dev)}
docker build -q -t "$image" \
  --build-arg BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}" \
  --build-arg APP_VERSION="$version" \
  --build-arg WITH_POSTGRES="${WITH_POSTGRES:-false}" \
  -f "$here/Dockerfile" "$here" >/dev/null
echo "build-image: built $image (version $version)" >&2
