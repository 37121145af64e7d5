"""`python -m app.serve [UVICORN OPTIONS]`: migrate (or with MIGRATE_ON_START=false, check that the
schema is not behind this release), then serve with uvicorn as the settings say.

The container's entrypoint runs this. Workers, the concurrency limit, timeouts and proxy trust
come from the settings (.env.example); options given on the command line come last and win, e.g.
`docker run IMAGE --workers 1`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from app import migrate
from app.settings import Settings, SettingsError, load_settings

LOG_CONFIG = Path(__file__).with_name("logging.json")
PORT = 8000
HTTP_PROTOCOL = "app.http_protocol:NoDelayHttpToolsProtocol"
# Every interface of the container: Docker publishes (or the proxy network reaches) the port.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


def uvicorn_args(
    settings: Settings, target: str = "app.main:app", host: str = ALL_INTERFACES, port: int = PORT
) -> list[str]:
    args = [
        target,
        f"--host={host}",
        f"--port={port}",
        f"--workers={settings.web_concurrency}",
        f"--limit-concurrency={settings.limit_concurrency}",
        f"--timeout-keep-alive={settings.keep_alive_timeout_s}",
        f"--timeout-graceful-shutdown={settings.graceful_shutdown_timeout_s}",
        f"--log-config={LOG_CONFIG}",
        f"--log-level={settings.log_level.lower()}",
        # The standard loop serves as fast here and fairly: uvloop let some of 64 busy connections
        # wait ten turns of the loop (p99 200-290 ms for a page of 50 on one worker, asyncio 24 ms).
        "--loop=asyncio",
        f"--http={HTTP_PROTOCOL}",
    ]
    if settings.forwarded_allow_ips:
        # Behind the reverse proxy: its X-Forwarded-For/-Proto name the client in logs and URLs.
        return [*args, "--proxy-headers", f"--forwarded-allow-ips={settings.forwarded_allow_ips}"]
    # Reached directly: a client's own X-Forwarded-* must not rewrite its address in the logs.
    return [*args, "--no-proxy-headers"]


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings(env_file=Path(".env"))
    except SettingsError as exc:
        print(f"serve: configuration error: {exc}", file=sys.stderr)
        return 2
    # With several hosts on one database the deploy migrates once, before any host switches.
    status = migrate.main(check_only=not settings.migrate_on_start)
    if status != 0:
        return status
    args = [*uvicorn_args(settings), *(sys.argv[1:] if argv is None else argv)]
    # uvicorn's click command; it returns only when the server has stopped.
    uvicorn.main.main(args=args, prog_name="uvicorn", standalone_mode=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
