#!/usr/bin/env bash
# Run the app image locally on SQLite, as a user would: scripts/demo.sh IMAGE (make demo).
# Re-running replaces the container and keeps the data volume; `make demo-down` stops it.
set -euo pipefail

image=${1:?usage: scripts/demo.sh IMAGE}
name=webapp-demo
volume=webapp-demo-data
port=${DEMO_PORT:-8000}
url=http://127.0.0.1:$port
# Writes need an API token, signed with SECRET_KEY: the demo keeps one key in build/ (0600), so the
# tokens it prints stay valid across re-runs.
here=$(cd "$(dirname "$0")/.." && pwd)
key_file=$here/build/demo-secret-key
if [ ! -s "$key_file" ]; then
  mkdir -p "$here/build"
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$key_file")
fi

docker rm -f "$name" >/dev/null 2>&1 || true
docker volume create "$volume" >/dev/null
if ! docker run -d --name "$name" \
  --restart unless-stopped \
  -p "127.0.0.1:$port:8000" \
  -v "$volume":/app/data \
  --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  --env-file <(printf 'SECRET_KEY=%s\n' "$(cat "$key_file")") \
  "$image" >/dev/null; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  echo "demo: could not start $name; is 127.0.0.1:$port taken? (another port: DEMO_PORT=8080 make demo)" >&2
  exit 1
fi

for _ in $(seq 1 60); do
  if python3 -c "import urllib.request; urllib.request.urlopen('$url/health', timeout=2)" 2>/dev/null; then
    token=$(docker exec "$name" python -m app.tokens issue "demo-$(date +%s)" 2>/dev/null)
    cat <<MSG
The app runs at $url (container $name, data in volume $volume).
Try (writes need the token issued just now; more: docker exec $name python -m app.tokens issue NAME):
  curl -s $url/health
  curl -s -X POST $url/api/items -H 'Content-Type: application/json' -H 'Authorization: Bearer $token' \\
       -d '{"name": "first", "data": {"n": 1}}'
  curl -s $url/api/items
Stop it with: make demo-down   (the data volume is kept)
MSG
    exit 0
  fi
  sleep 1
done
echo "demo: $name did not become healthy within 60 s; its log:" >&2
docker logs --tail 50 "$name" >&2
exit 1
