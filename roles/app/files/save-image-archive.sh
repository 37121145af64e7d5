#!/usr/bin/env bash
# save-image-archive.sh IMAGE ARCHIVE: `docker save IMAGE | gzip -1` into ARCHIVE, which appears whole
# or not at all. The run writes a temporary file of its own beside ARCHIVE and renames it: runs side by
# side (two terminals, or parallel test workers sharing build/images) never write into one another's
# file, and a failed or killed save leaves no ARCHIVE behind.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 IMAGE ARCHIVE" >&2; exit 2; }
image=$1 archive=$2
part=$(mktemp "$archive.part.XXXXXX")
trap 'rm -f "$part"' EXIT
docker save "$image" | gzip -1 >"$part"
mv "$part" "$archive"
