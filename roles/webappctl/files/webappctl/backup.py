"""Backups while the app runs (the timer, playbooks/backup.yml) and the verification of a backup
before a restore. Both run the deployed image's dbtool in a one-off container: the sqlite3 online
backup API (consistent while the app keeps writing) and PRAGMA integrity_check."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from . import dbtool, docker, fsutil, releases
from .config import Config


class BackupError(RuntimeError):
    """A backup could not be taken or verified; the message says which and why."""


def deployed_image(cfg: Config) -> str:
    """The image id the app container runs, else the one the last deploy recorded."""
    info = docker.inspect("container", cfg.container.name)
    if info and info.get("Image"):
        return str(info["Image"])
    recorded = releases.current(cfg).get("image_id")
    if recorded:
        return str(recorded)
    raise BackupError(
        f"no container {cfg.container.name} and no release record: deploy the app first "
        "(playbooks/deploy.yml)"
    )


def _staging(cfg: Config, target: Path) -> Path:
    # Made root-only when missing: the default place is on the data volume, which the app's
    # container mounts (it runs as the app user and never reads the backups).
    for path in (Path(cfg.backup.dir), target):
        if not path.is_dir():
            path.mkdir(mode=0o700, parents=True)
            os.chmod(str(path), 0o700)
    staging = target / ".incoming"
    staging.mkdir(mode=0o700, exist_ok=True)
    os.chown(str(staging), cfg.uid, cfg.gid)
    os.chmod(str(staging), 0o700)
    return staging


def take(
    cfg: Config, subdir: str = "", keep: int | None = None, data_dir: Path | None = None
) -> dict[str, Any]:
    """One new consistent, verified backup in the backup directory (root, 0600, with a .sha256),
    then older ones pruned to `keep`."""
    db = cfg.db_file
    if db is None:
        raise BackupError(
            "DATABASE_URL does not name a SQLite file on the data volume (PostgreSQL): back it up with its "
            "own service; on RDS, playbooks/backup.yml takes a snapshot, and automated backups run daily"
        )
    source_dir = data_dir or cfg.data
    if not (source_dir / cfg.db_name).is_file():
        raise BackupError(
            f"no database at {source_dir / cfg.db_name}: nothing to back up (has the app ever started?)"
        )
    target = Path(cfg.backup.dir) / subdir if subdir else Path(cfg.backup.dir)
    image = deployed_image(cfg)
    label = releases.label_of(image)
    staging = _staging(cfg, target)
    while True:
        created = time.gmtime()
        name = f"{cfg.backup.prefix}-{time.strftime('%Y%m%dT%H%M%SZ', created)}-{label}.db"
        if not any((target / n).exists() for n in (name, f"{name}.gz")):
            break
        time.sleep(1)  # names carry seconds: two backups in one second wait for the next
    try:
        report = dbtool.backup(cfg, image, source_dir, cfg.db_name, staging, name)
        final = _finish(cfg, staging / name, target)
    finally:
        for leftover in staging.glob(f"{name}*"):
            leftover.unlink()
    pruned = prune(cfg, target, cfg.backup.keep if keep is None else keep)
    if data_dir is None:
        # A verified backup of the live database exists again: a swap whose own copy failed
        # verification no longer blocks the next one.
        (cfg.releases / "unverified.json").unlink(missing_ok=True)
    return {
        "path": str(final),
        "bytes": final.stat().st_size,
        "db_bytes": int(report["bytes"]),
        "sha256": Path(f"{final}.sha256").read_text().split()[0],
        "integrity": report["integrity"],
        "revision": report.get("revision"),
        "release": label,
        "image": image,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", created),
        "compressed": cfg.backup.compress,
        "pruned": pruned,
    }


def _finish(cfg: Config, produced: Path, target: Path) -> Path:
    final = target / produced.name
    if cfg.backup.compress:
        packed = produced.with_name(produced.name + ".gz")
        with produced.open("rb") as src, gzip.open(str(packed), "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        produced.unlink()
        produced, final = packed, target / packed.name
    os.chown(str(produced), 0, 0)
    os.chmod(str(produced), 0o600)
    with produced.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(str(produced), str(final))
    fsutil.write_atomic(
        Path(f"{final}.sha256"), f"{fsutil.sha256_file(final)}  {final.name}\n".encode(), 0o600
    )
    return final


def prune(cfg: Config, target: Path, keep: int) -> list[str]:
    """All but the newest `keep` of our backups in `target` go (name order is time order)."""
    if keep <= 0:
        return []
    pattern = re.compile(rf"^{re.escape(cfg.backup.prefix)}-[0-9]+T[0-9]+Z-.+\.db(\.gz)?$")
    ours = sorted(p for p in target.iterdir() if p.is_file() and pattern.match(p.name))
    removed = []
    for old in ours[: max(len(ours) - keep, 0)]:
        old.unlink()
        Path(f"{old}.sha256").unlink(missing_ok=True)
        removed.append(old.name)
    return removed


def verify(cfg: Config, path: Path, stage: Path, image: str | None = None) -> dict[str, Any]:
    """Check a backup (its .sha256 when present, gunzip, integrity_check with the image's dbtool) and
    leave exactly the bytes a restore will use in stage/<db name>. Raises with nothing changed."""
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    sidecar = Path(f"{path}.sha256")
    verified = False
    if sidecar.is_file():
        expected = (sidecar.read_text().split() or [""])[0]
        if fsutil.sha256_file(path) != expected:
            raise BackupError(
                f"{path} does not match its checksum file {sidecar}: it is damaged or was changed"
            )
        verified = True
    staged = stage / cfg.db_name
    for old in stage.iterdir():
        old.unlink()
    try:
        if path.name.endswith(".gz"):
            with gzip.open(str(path), "rb") as src, staged.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            shutil.copyfile(str(path), str(staged))
    except (OSError, EOFError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from None
    os.chown(str(staged), cfg.uid, cfg.gid)
    os.chmod(str(staged), 0o600)
    if staged.stat().st_size == 0:
        raise BackupError(f"{path} is empty")
    try:
        report = dbtool.check(cfg, image or deployed_image(cfg), stage, cfg.db_name)
    except dbtool.DbToolError as exc:
        raise BackupError(f"{path} failed verification: {exc}") from None
    return {
        "source": str(path),
        "staged": str(staged),
        "bytes": staged.stat().st_size,
        "integrity": report["integrity"],
        "revision": report.get("revision"),
        "sha256_verified": verified,
    }
