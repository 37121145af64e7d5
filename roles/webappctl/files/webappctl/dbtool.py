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


# --- moving a SQLite database into the shared one (a deploy with copy_from) -------------------------------
def _shared(
    cfg: Config, image: str, settings: str, mounts: dict[str, str], *args: str
) -> tuple[int, dict[str, Any], str]:
    """A one-off run on the app's network with the release's settings (it reaches the shared database)."""
    argv = [*DBTOOL, *args]
    proc = docker.run(
        *docker.oneoff_args(cfg, image, mounts, {}, argv, network=cfg.network, env_file=settings),
        check=False,
        timeout=3600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]) or "no output"
    return proc.returncode, report, detail


def copy_check(cfg: Config, image: str, settings: str) -> dict[str, Any]:
    """{"empty": bool, "holding": {table: rows}} of the shared database; raises when it cannot be read."""
    rc, report, detail = _shared(cfg, image, settings, {}, "copy-check")
    if rc not in (0, 3) or "empty" not in report:
        raise DbToolError(f"dbtool copy-check failed (exit {rc}): {detail}")
    return report


def copy(
    cfg: Config, image: str, settings: str, source_dir: Path, db_name: str, deadline: float
) -> dict[str, Any]:
    """Copy source_dir/db_name into the shared database, verified; raises (the copy rolled back) if not."""
    mounts = {str(source_dir): "/source"}
    rc, report, detail = _shared(
        cfg, image, settings, mounts, "copy", f"/source/{db_name}", "--deadline", f"{deadline:g}"
    )
    if rc != 0 or "tables" not in report:
        raise DbToolError(f"dbtool copy failed (exit {rc}): {detail}")
    return report


def copy_clear(cfg: Config, image: str, settings: str) -> dict[str, Any]:
    rc, report, detail = _shared(cfg, image, settings, {}, "copy-clear")
    if rc != 0:
        raise DbToolError(f"dbtool copy-clear failed (exit {rc}): {detail}")
    return report
