#!/bin/sh
# Container entrypoint: migrate the schema, then become uvicorn (PID 1 gets the signals).
# Arguments are passed on to uvicorn, e.g. `docker run IMAGE --workers 2`.
set -eu

python -m app.migrate

# uvicorn's own level follows LOG_LEVEL too (already validated by the migrate step above).
level=$(printf '%s' "${LOG_LEVEL:-INFO}" | tr '[:upper:]' '[:lower:]')
# --no-proxy-headers: the app is reached directly on a published port; X-Forwarded-* from clients
# must not be trusted to rewrite the client address in the logs.
exec uvicorn app.main:app --host 0.0.0.0 --port 8000 --no-proxy-headers \
  --log-config /app/app/logging.json --log-level "$level" "$@"
