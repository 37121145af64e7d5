"""The image's own database tool (python -m app.dbtool), run in a locked-down one-off container: it
knows the schema the image speaks, and the host needs no SQLite tooling of its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import docker
from .config import Config

DBTOOL = ["python", "-m", "app.dbtool"]


class DbToolError(RuntimeError):
    """The tool failed or reported a damaged database; the message says which."""


def _run(cfg: Config, image: str, mounts: dict[str, str], env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = docker.run(
        *docker.oneoff_args(cfg, image, mounts, env, [*DBTOOL, *args]), check=False, timeout=3600
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        report = None
    if proc.returncode != 0 or not isinstance(report, dict):
        detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:]) or "no output"
        if isinstance(report, dict) and report.get("integrity", "ok") != "ok":
            detail = f"integrity: {report['integrity']}"
        raise DbToolError(f"dbtool {args[0]} failed (exit {proc.returncode}): {detail}")
    return report


def backup(
    cfg: Config, image: str, source_dir: Path, db_name: str, dest_dir: Path, name: str
) -> dict[str, Any]:
    """A consistent single-file copy of source_dir/db_name (its WAL applied) at dest_dir/name, checked."""
    report = _run(
        cfg,
        image,
        {str(source_dir): "/source", str(dest_dir): "/backups"},
        {"DATABASE_URL": f"sqlite:////source/{db_name}"},
        "backup",
        f"/backups/{name}",
    )
    if report.get("integrity") != "ok":
        raise DbToolError(f"integrity check of the new backup says {report.get('integrity')!r}")
    return report


def check(cfg: Config, image: str, directory: Path, name: str) -> dict[str, Any]:
    report = _run(cfg, image, {str(directory): "/restore"}, {}, "check", f"/restore/{name}")
    if report.get("integrity") != "ok":
        raise DbToolError(f"integrity check says {report.get('integrity')!r}")
    return report


def revision(cfg: Config, image: str) -> str | None:
    """The schema revision of the live database (read-only use of the data volume)."""
    assert cfg.db_file is not None
    report = _run(
        cfg,
        image,
        {cfg.data_dir: cfg.container.data_mount},
        {"DATABASE_URL": f"sqlite:///{cfg.container.data_mount}/{cfg.db_name}"},
        "revision",
    )
    return report.get("revision")
