"""`webappctl migrate`: bring a shared database (PostgreSQL) to the schema of a release, once, before
any host switches to it. Several hosts serve one database there, so no release migrates at its
start (MIGRATE_ON_START=false); the rolling deploy runs this on one host, then swaps each host in
turn. Migrations must stay backward compatible for one release (expand, then contract a release
later): the hosts still on the old release keep serving the migrated schema meanwhile.

The image's own `python -m app.migrate` runs in a one-off container with the release's settings, on
the app's network (the database is reached the way the app reaches it). A SQLite file on the data
volume is never migrated here: each release migrates it at its start, after the swap's copy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from . import docker, plan, redact
from .config import Config


class MigrateError(RuntimeError):
    """The migration was refused or failed; the message says which (secrets redacted)."""


def _oneoff(cfg: Config, image: str, settings: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    args = docker.oneoff_args(cfg, image, {}, {}, argv, network=cfg.network, env_file=str(settings))
    return docker.run(*args, check=False, timeout=3600)


def _revision(cfg: Config, image: str, settings: Path, scrub: redact.Redactor) -> dict[str, Any]:
    proc = _oneoff(cfg, image, settings, ["python", "-m", "app.dbtool", "revision"])
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]) or "no output"
        raise MigrateError(f"could not read the schema revision with {image}: {scrub(detail)}")
    return dict(json.loads(lines[-1]))


def run(cfg: Config, image_ref: str, settings: Path) -> dict[str, Any]:
    if cfg.db_file is not None:
        raise MigrateError(
            f"the database is the SQLite file {cfg.db_file} on this host: each release migrates it when it "
            "starts (after the swap's copy); `webappctl migrate` is for a database several hosts share"
        )
    image = plan.delivered(image_ref, settings, MigrateError)
    scrub = redact.for_files([settings])
    before = _revision(cfg, image, settings, scrub)
    if before.get("revision") == before.get("head") or before.get("ahead"):
        where = "already at" if not before.get("ahead") else "ahead of"
        return {
            "state": "unchanged",
            "changed": False,
            "revision": before.get("revision"),
            "message": f"the schema ({before.get('revision')}) is {where} {before.get('head')}, the "
            f"revision of {image_ref}; nothing migrated",
        }
    proc = _oneoff(cfg, image, settings, ["python", "-m", "app.migrate"])
    if proc.returncode != 0:
        detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:]) or "no output"
        raise MigrateError(
            f"the migration of {image_ref} failed (exit {proc.returncode}): {scrub(detail)}. No host "
            "switched; every host still serves the release it served"
        )
    after = _revision(cfg, image, settings, scrub)
    return {
        "state": "committed",
        "changed": True,
        "revision": after.get("revision"),
        "message": f"migrated the schema from {before.get('revision') or 'nothing'} to "
        f"{after.get('revision')} with {image_ref}",
    }
