"""Release records: releases/current.json and previous.json name the image (reference and id) and the
settings file of the running release and of the one before it; previous.json also names the backup
paired with it (the database as that release left it, verified) and its schema revision, which is
what a rollback needs. The pair is written under temporary names and renamed together."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import docker, fsutil
from .config import Config

SPEC_LABEL = "webappctl.spec"
TXN_LABEL = "webappctl.txn"


def current(cfg: Config) -> dict[str, Any]:
    return fsutil.read_json(cfg.releases / "current.json", {}) or {}


def previous(cfg: Config) -> dict[str, Any]:
    return fsutil.read_json(cfg.releases / "previous.json", {}) or {}


def spec_hash(cfg: Config) -> str:
    """What, besides image and settings, makes a release container: changing it is a swap too."""
    spec = {"container": asdict(cfg.container), "network": cfg.network, "uid": cfg.uid, "gid": cfg.gid}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def label_of(image_id: str) -> str:
    """A short, file-name-safe release label: the image's APP_VERSION, else its short id."""
    info = docker.inspect("image", image_id) or {}
    env = dict(e.split("=", 1) for e in ((info.get("Config") or {}).get("Env") or []) if "=" in e)
    label = env.get("APP_VERSION", "")
    if not label or label == "dev":
        label = image_id.replace("sha256:", "")[:12]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:40] or "unknown"


def write_pair(cfg: Config, new_current: dict[str, Any], new_previous: dict[str, Any] | None) -> None:
    names = [("previous.json", new_previous), ("current.json", new_current)]
    for name, record in names:
        if record is not None:
            fsutil.write_json(cfg.releases / f"{name}.new", record)
    for name, record in names:
        if record is not None:
            os.replace(str(cfg.releases / f"{name}.new"), str(cfg.releases / name))
    fsutil.fsync_dir(cfg.releases)


def remember_images(cfg: Config, *image_ids: str) -> None:
    """Ids of the images this host has run: an image whose tag moved on to a newer build is no longer
    listed under the repository, and pruning finds it here."""
    path = cfg.releases / "images"
    known = path.read_text().split() if path.exists() else []
    wanted = known + [i for i in image_ids if i and i not in known]
    if wanted != known:
        fsutil.write_atomic(path, ("\n".join(wanted) + "\n").encode())


def install_settings(cfg: Config, staged: Path, release_id: str) -> Path:
    """The settings file of a release, kept beside the records (root, 0600) so that a rollback starts
    the previous image with the settings it ran with."""
    cfg.settings_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = cfg.settings_dir / f"{release_id}.env"
    fsutil.write_atomic(dest, staged.read_bytes(), 0o600)
    return dest


def same_settings(a: str | None, b: str | None) -> bool:
    try:
        return bool(a and b) and Path(str(a)).read_bytes() == Path(str(b)).read_bytes()
    except OSError:
        return False
