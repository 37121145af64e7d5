#!/bin/sh
# Container entrypoint: migrate the schema, then serve (app/serve.py builds uvicorn's options from
# the settings). exec: PID 1 is the server and gets docker stop's SIGTERM, then finishes the
# requests in flight (GRACEFUL_SHUTDOWN_TIMEOUT_S). Arguments go on to uvicorn, e.g. `--workers 1`.
set -eu
exec python -m app.serve "$@"
