"""The SQLite files on the data volume: cloned before a swap, set aside (never deleted) when replaced,
and put in place through a copy beside the live file, so a failure at any point leaves a database."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from . import fsutil
from .config import Config

SUFFIXES = ("", "-wal", "-shm", "-journal")
# What travels with a database: the WAL holds committed transactions not yet in the main file.
CONTENT = ("", "-wal")


def marker(cfg: Config) -> Path | None:
    """Written by the app the first time it creates the database (app/migrate.py): once there,
    a missing database is an accident, not a first start."""
    db = cfg.db_file
    return db.with_name(f".{db.name}.created") if db else None


def exists(cfg: Config) -> bool:
    return bool(cfg.db_file and cfg.db_file.is_file())


def had_database(cfg: Config, recorded: object) -> bool:
    """The app's marker is there, or the release record says the last swap left a database."""
    found = marker(cfg)
    return bool(recorded) or bool(found and found.exists())


def newest_backup(cfg: Config) -> Path | None:
    roots = {Path(cfg.backups_dir), Path(cfg.backup.dir)}
    found = [
        path
        for root in roots
        if root.is_dir()
        for pattern in ("*.db", "*.db.gz")
        for path in root.rglob(pattern)
        if path.is_file() and "/." not in str(path.relative_to(root)) and not path.name.startswith(".")
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def ensure_work_dir(cfg: Config, name: str) -> Path:
    """A directory on the data volume the app user owns (one-off containers of the image open it)."""
    for path in (cfg.work_dir, cfg.work_dir / name):
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(str(path), cfg.uid, cfg.gid)
        os.chmod(str(path), 0o700)
    return cfg.work_dir / name


def clone_into(cfg: Config, dest: Path) -> dict[str, object]:
    """Clone the database and its WAL into dest (emptied first). With the app stopped the pair is
    exactly what the app acknowledged; on XFS the clone is a reflink, constant time at any size."""
    db = cfg.db_file
    assert db is not None
    for old in dest.iterdir():
        old.unlink()
    started = time.monotonic()
    methods = set()
    for suffix in CONTENT:
        src = db.with_name(db.name + suffix)
        if src.is_file():
            methods.add(fsutil.clone(src, dest / (db.name + suffix)))
    fsutil.fsync_dir(dest)
    return {
        "method": "reflink" if methods == {"reflink"} else "copy",
        "seconds": round(time.monotonic() - started, 3),
        "bytes": sum(p.stat().st_size for p in dest.iterdir()),
    }


def aside_name(cfg: Config, tag: str) -> Path:
    db = cfg.db_file
    assert db is not None
    return db.with_name(f"{db.name}.{tag}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")


def replace(
    cfg: Config, source_dir: Path, tag: str, facts: dict[str, object], save: Callable[[], None]
) -> str:
    """Put the database files found in source_dir (a clone or a staged restore) in place of the live
    ones, which are renamed to <db>.<tag>-<time> (with their -wal/-shm, so the set still opens as one
    database). Resumable: each stage is noted in `facts` (persisted by `save`) before the next.
    Returns the aside name ("" when there was no live database)."""
    db = cfg.db_file
    assert db is not None
    key = f"replace_{tag}"
    stage = facts.get(key) or {}
    assert isinstance(stage, dict)
    if not stage.get("copied"):
        # Beside the live file, on the same file system: a full disk fails here, with nothing moved.
        for suffix in CONTENT:
            incoming = db.with_name(db.name + suffix + ".incoming")
            incoming.unlink(missing_ok=True)
            src = source_dir / (db.name + suffix)
            if src.is_file():
                fsutil.clone(src, incoming)
                os.chown(str(incoming), cfg.uid, cfg.gid)
                os.chmod(str(incoming), 0o640)
        stage = {"copied": True, "aside": str(aside_name(cfg, tag))}
        facts[key] = stage
        save()
    aside = Path(str(stage["aside"]))
    if not stage.get("moved"):
        moved = False
        for suffix in SUFFIXES:
            live = db.with_name(db.name + suffix)
            if live.exists():
                os.rename(str(live), str(aside) + suffix)
                moved = True
        found = marker(cfg)
        if found is not None and found.exists() and tag == "failed" and not facts.get("db_existed"):
            # The failed release created this database and its marker: set both aside, so the next
            # deploy starts from nothing again instead of refusing a "missing" database.
            os.rename(str(found), str(aside) + ".created")
        stage["moved"] = True
        stage["had_live"] = moved or bool(stage.get("had_live"))
        save()
    for suffix in ("-wal", ""):
        incoming = db.with_name(db.name + suffix + ".incoming")
        if incoming.exists():
            os.rename(str(incoming), str(db.with_name(db.name + suffix)))
    fsutil.fsync_dir(db.parent)
    return str(aside) if stage.get("had_live") else ""
