"""The quick answer to "does this host already run exactly what the playbook would deploy?": the
digest of everything a deploy would leave (computed on the controller) as recorded by the last
deploy that ended well, and the live state agreeing with it. A yes lets an unchanged deploy skip
every other task; any doubt answers no, and the playbook does the whole run."""

from __future__ import annotations

import os
from pathlib import Path

from . import docker, fsutil, journal, proxy
from .config import Config


def path(cfg: Config) -> Path:
    return cfg.releases / "converged"


def record(cfg: Config, digest: str) -> None:
    # Root's alone: the digest covers the settings, secrets included.
    fsutil.write_atomic(path(cfg), digest.encode(), 0o600)


def forget(cfg: Config) -> None:
    if path(cfg).exists():
        path(cfg).unlink()


def check(cfg: Config, digest: str, mountpoint: str = "") -> str:
    """ "" when the host is converged on `digest`, else what differs."""
    try:
        recorded = path(cfg).read_text().strip()
    except OSError:
        return "no deploy recorded"
    if recorded != digest:
        return "something to deploy changed"
    if mountpoint and not os.path.ismount(mountpoint):
        return f"{mountpoint} is not mounted"
    if journal.Journal(cfg.txn_dir).active() is not None:
        return "a transaction is open"
    info = docker.inspect("container", cfg.container.name) or {}
    state = info.get("State") or {}
    if not state.get("Running") or (state.get("Health") or {}).get("Status") == "unhealthy":
        return "the app is not running healthy"
    alias = (info.get("Config", {}).get("Labels") or {}).get("webappctl.alias")
    if cfg.proxy is not None:
        if not docker.state(cfg.proxy.container).get("Running"):
            return "the proxy is not running"
        if proxy.current(cfg) != alias:
            return "the proxy does not point at the app"
    return ""
