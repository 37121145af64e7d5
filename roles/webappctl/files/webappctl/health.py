"""The health gate: the release's own /health, asked on its address on the private network (from
the host), before the proxy sends it anything; never a sleep."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

from . import docker
from .config import Config


class GateFailed(RuntimeError):
    """The release did not become healthy; the message says how it ended."""


def probe(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "webappctl-health-gate"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def gate(cfg: Config, container: str, timeout: float, beat: Callable[[], None] | None = None) -> None:
    """Until the container answers 200 on the health path; fails early if it exits."""
    deadline = time.monotonic() + timeout
    last: int | None = None
    next_beat = 0.0
    while True:
        state = docker.state(container)
        if not state:
            raise GateFailed(f"its container {container} is gone")
        if not state.get("Running"):
            if state.get("Status") in ("exited", "dead"):
                raise GateFailed(
                    f"it exited (exit code {state.get('ExitCode')}) before answering {cfg.health_path}"
                )
        else:
            address = docker.container_ip(container, cfg.network)
            if address:
                last = probe(address, cfg.container.port, cfg.health_path)
                if last == 200:
                    return
        now = time.monotonic()
        if now >= deadline:
            answered = f"the last answer was {last}" if last else "it never answered"
            raise GateFailed(
                f"it did not answer {cfg.health_path} with 200 within {timeout:.0f}s ({answered})"
            )
        if beat is not None and now >= next_beat:
            beat()
            next_beat = now + 5
        time.sleep(0.2)
