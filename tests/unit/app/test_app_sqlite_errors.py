"""SQLite trouble becomes a JSON 503 naming the problem (or a one-line startup error), never a traceback.

We run as root, for whom file modes mean nothing: read-only is made with the immutable attribute
(chattr +i) or a mode=ro URI, and a full disk with a tiny tmpfs mount.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from support.app_helpers import api_client, issue_token, unregistered_token

from app.migrate import upgrade

REPO = Path(__file__).resolve().parents[3]


def _client(settings, token: str | None = None) -> TestClient:
    """Requests carry the token given, else one the database never saw: a database that can't be
    read then answers its own 503 rather than a 401."""
    return api_client(settings, token or unregistered_token(settings))


def _problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def immutable_db(make_settings, tmp_path: Path) -> Iterator[str]:
    """A migrated database made immutable; a token issued before that."""
    settings = make_settings()
    upgrade(settings)
    token = issue_token(settings)
    path = tmp_path / "data" / "app.db"
    if not _chattr("+i", path):
        pytest.skip("chattr +i is not supported on this filesystem")
    yield token
    _chattr("-i", path)


def test_read_only_file_gives_503_for_health_and_writes(make_settings, immutable_db: str) -> None:
    with _client(make_settings(), immutable_db) as client:
        _problem(client.get("/health"), 503, "database_read_only")
        assert client.get("/health").json()["status"] == "error"
        _problem(client.post("/api/items", json={"name": "a", "data": {}}), 503, "database_read_only")
        assert client.get("/api/items").status_code == 200  # reading still works


def test_read_only_uri_gives_503_for_writes(make_settings, tmp_path: Path) -> None:
    upgrade(make_settings())
    token = issue_token(make_settings())
    url = f"sqlite:///file:{tmp_path}/data/app.db?mode=ro&uri=true"
    with _client(make_settings(DATABASE_URL=url), token) as client:
        _problem(client.post("/api/items", json={"name": "a", "data": {}}), 503, "database_read_only")


def test_directory_that_cannot_be_created(make_settings, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    settings = make_settings(DATABASE_URL=f"sqlite:///{tmp_path}/blocker/sub/app.db")
    with _client(settings) as client:
        response = client.get("/health")
        _problem(response, 503, "database_unavailable")
        assert "cannot be created" in response.json()["error"]["message"]
        _problem(client.post("/api/items", json={"name": "a", "data": {}}), 503, "database_unavailable")


def test_missing_directory_is_created(make_settings, tmp_path: Path) -> None:
    settings = make_settings(DATABASE_URL=f"sqlite:///{tmp_path}/new/deeper/app.db")
    upgrade(settings)
    assert (tmp_path / "new" / "deeper" / "app.db").is_file()


def test_locked_database_gives_503_with_retry_after(make_settings, tmp_path: Path) -> None:
    upgrade(make_settings())
    token = issue_token(make_settings())
    holder = sqlite3.connect(tmp_path / "data" / "app.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with _client(make_settings(SQLITE_BUSY_TIMEOUT_MS="100"), token) as client:
            response = client.post("/api/items", json={"name": "a", "data": {}})
            _problem(response, 503, "database_locked")
            assert response.headers["retry-after"] == "1"
            holder.execute("ROLLBACK")
            assert client.post("/api/items", json={"name": "a", "data": {}}).status_code == 201
    finally:
        holder.close()


def test_schema_not_migrated(make_settings) -> None:
    with _client(make_settings()) as client:
        _problem(client.get("/health"), 503, "database_not_migrated")
        _problem(client.get("/api/items"), 503, "database_not_migrated")


def test_file_that_is_not_a_database(make_settings, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "app.db").write_bytes(os.urandom(8192))
    with _client(make_settings()) as client:
        _problem(client.get("/health"), 503, "database_corrupt")
        _problem(client.post("/api/items", json={"name": "a", "data": {}}), 503, "database_corrupt")


@pytest.fixture
def tiny_mount(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_gives_503(make_settings, tiny_mount: Path) -> None:
    settings = make_settings(DATABASE_URL=f"sqlite:///{tiny_mount}/app.db")
    upgrade(settings)
    with _client(settings, issue_token(settings)) as client:
        codes = set()
        for _ in range(200):
            response = client.post("/api/items", json={"name": "a", "data": {"pad": "x" * 20000}})
            codes.add(response.status_code)
            if response.status_code != 201:
                _problem(response, 503, "database_full")
                break
        assert 503 in codes, "the 512 KiB filesystem never filled up"
        assert client.get("/api/items?limit=1").status_code == 200


def _migrate(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "app.migrate"], env=base | env, cwd=cwd, capture_output=True, text=True
    )


def test_migrate_reports_configuration_errors_in_one_line(tmp_path: Path) -> None:
    result = _migrate({"SQLITE_SYNCHRONOUS": "maybe", "SECRET_KEY": "do-not-print-me"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "migrate: configuration error: setting SQLITE_SYNCHRONOUS is invalid: "
        "expected one of OFF, NORMAL, FULL, EXTRA"
    )


def test_migrate_reports_unusable_directory_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    result = _migrate({}, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot be created" in result.stderr


def test_migrate_reports_read_only_database_without_traceback(make_settings, tmp_path: Path) -> None:
    upgrade(make_settings())
    url = f"sqlite:///file:{tmp_path}/data/other.db?mode=ro&uri=true"
    sqlite3.connect(tmp_path / "data" / "other.db").close()  # exists, empty, opened read-only
    result = _migrate({"DATABASE_URL": url}, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "read-only" in result.stderr


def test_server_exits_cleanly_on_bad_settings(tmp_path: Path) -> None:
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "MAX_BODY_BYTES": "-5"}
    result = subprocess.run(
        [sys.executable, "-c", "import app.main"], env=base, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "webapp: configuration error: setting MAX_BODY_BYTES is invalid: "
        "expected an integer >= 1 and <= 16777216"
    )
