"""The reverse proxy's upstream: one file on the host, read by the proxy (Caddy's {file.*}
placeholder) each time it dials, so it follows a swap without a reload. It names the network alias
of the live release, or the hold host, on which nothing listens: dials then fail at once and the
proxy retries them (lb_try_duration), holding each request until the file names a release again.
A dial that fails was never sent, so holding POSTs this way is safe."""

from __future__ import annotations

import time
from pathlib import Path

from . import fsutil
from .config import Config


def current(cfg: Config) -> str | None:
    if cfg.proxy is None:
        return None
    try:
        return Path(cfg.proxy.upstream_file).read_text().strip() or None
    except FileNotFoundError:
        return None


def point(cfg: Config, host: str) -> None:
    if cfg.proxy is None:
        return
    path = Path(cfg.proxy.upstream_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    # World-readable: the proxy runs as its own unprivileged user.
    fsutil.write_atomic(path, host.encode(), 0o644)


def hold(cfg: Config) -> None:
    """New requests wait in the proxy; those already dialled finish on the release serving them."""
    if cfg.proxy is None:
        return
    held = current(cfg) == cfg.proxy.hold_host
    point(cfg, cfg.proxy.hold_host)
    if not held:
        time.sleep(cfg.proxy.settle_seconds)


def is_held(cfg: Config) -> bool:
    return cfg.proxy is not None and current(cfg) == cfg.proxy.hold_host
