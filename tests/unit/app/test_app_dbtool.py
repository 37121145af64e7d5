"""python -m app.dbtool: the contract the Ansible backup and deploy roles rely on."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from support.app_helpers import api_client

from app.migrate import upgrade

REPO = Path(__file__).resolve().parents[3]


def dbtool(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "app.dbtool", *args], env=base | env, cwd=cwd, capture_output=True, text=True
    )


def test_backup_during_writes_is_consistent(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    upgrade(settings)
    stop = threading.Event()
    with api_client(settings) as client:

        def write() -> None:
            while not stop.is_set():
                client.post("/api/items", json={"name": "w", "data": {"x": "y" * 500}})

        writer = threading.Thread(target=write)
        writer.start()
        try:
            result = dbtool(tmp_path, "backup", "backups/copy.db")
        finally:
            stop.set()
            writer.join()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    dest = tmp_path / "backups" / "copy.db"
    assert report == {"path": str(dest), "bytes": dest.stat().st_size, "integrity": "ok", "revision": "0002"}
    with sqlite3.connect(dest) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] >= 0
    assert not list((tmp_path / "backups").glob(".*partial"))


def test_check_reports_integrity_and_revision(make_settings, tmp_path: Path) -> None:
    upgrade(make_settings())
    result = dbtool(tmp_path, "check", "data/app.db")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert (report["integrity"], report["revision"]) == ("ok", "0002")


def test_check_fails_on_a_damaged_file(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"SQLite format 3\x00" + os.urandom(5000))
    result = dbtool(tmp_path, "check", "junk.db")
    assert result.returncode == 1
    assert json.loads(result.stdout)["integrity"] != "ok"
    assert "integrity check failed" in result.stderr


def test_check_of_missing_file(tmp_path: Path) -> None:
    result = dbtool(tmp_path, "check", "nope.db")
    assert (result.returncode, result.stdout) == (1, "")
    assert "is not a file" in result.stderr


def test_backup_without_a_database_creates_nothing(tmp_path: Path) -> None:
    result = dbtool(tmp_path, "backup", "out.db")
    assert result.returncode == 1
    assert "no database at" in result.stderr
    assert not (tmp_path / "data" / "app.db").exists()
    assert not (tmp_path / "out.db").exists()


def test_backup_refuses_postgresql(tmp_path: Path) -> None:
    result = dbtool(tmp_path, "backup", "out.db", DATABASE_URL="postgresql+psycopg://u:pw@127.0.0.1:1/d")
    assert result.returncode == 2
    assert "SQLite" in result.stderr


def test_backup_refuses_to_overwrite_the_live_database(make_settings, tmp_path: Path) -> None:
    upgrade(make_settings())
    assert dbtool(tmp_path, "backup", "data/app.db").returncode == 2


def test_revision(make_settings, tmp_path: Path) -> None:
    upgrade(make_settings())
    result = dbtool(tmp_path, "revision")
    assert json.loads(result.stdout) == {"revision": "0002", "head": "0002", "ahead": False}


def test_revision_of_a_schema_a_newer_release_migrated_is_ahead(make_settings, tmp_path: Path) -> None:
    upgrade(make_settings())
    with sqlite3.connect(tmp_path / "data" / "app.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
    result = dbtool(tmp_path, "revision")
    assert json.loads(result.stdout) == {"revision": "0003", "head": "0002", "ahead": True}


def test_revision_of_unreachable_database_is_a_clean_error(tmp_path: Path) -> None:
    result = dbtool(tmp_path, "revision", DATABASE_URL="postgresql+psycopg://u:hunter22@127.0.0.1:1/d")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "hunter22" not in result.stderr + result.stdout


def test_configuration_error_exit_code(tmp_path: Path) -> None:
    result = dbtool(tmp_path, "revision", LOG_LEVEL="chatty")
    assert result.returncode == 2
    assert "LOG_LEVEL" in result.stderr
