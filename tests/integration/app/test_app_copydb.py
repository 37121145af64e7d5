"""Moving a SQLite database into an empty PostgreSQL one (app/copydb.py, `python -m app.dbtool copy`):
every row arrives as the app reads it, counts and per-row checksums agree, a target that holds
anything is refused untouched, a copy past its deadline leaves the target as empty as it was, and
copy-clear undoes a copy. Against a real PostgreSQL server (tests/support/ensure-postgres.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from support.app_helpers import TEST_SECRET, api_client
from support.hostkit import ROOT as REPO

from app import copydb
from app.migrate import upgrade
from app.settings import load_settings

pytestmark = pytest.mark.postgres

ODD = {"unicode": "zürich ✓ 東京", "float": 0.1, "big": 2**53, "nested": {"a": [1, None, True, {"b": ""}]}}


def sqlite(tmp_path: Path):
    """The app's default database: a SQLite file under tmp_path/data."""
    return load_settings(environ={"SECRET_KEY": TEST_SECRET}, cwd=tmp_path)


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    """A migrated SQLite file with items (odd values among them) and a token; the items as served."""
    settings = sqlite(tmp_path)
    upgrade(settings)
    with api_client(settings) as client:
        for n in range(25):
            client.post("/api/items", json={"name": f"item-{n}", "data": ODD | {"n": n}})
        served = {
            item["id"]: item for item in client.get("/api/items", params={"limit": 100}).json()["items"]
        }
    return tmp_path / "data" / "app.db", served


def pg(postgres_url: str, tmp_path: Path):
    return load_settings(environ={"DATABASE_URL": postgres_url, "SECRET_KEY": TEST_SECRET}, cwd=tmp_path)


def dbtool(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.dbtool", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), "SECRET_KEY": TEST_SECRET, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_row_arrives_as_the_app_reads_it(seeded, postgres_url: str, tmp_path: Path) -> None:
    source, served = seeded
    target = pg(postgres_url, tmp_path)
    assert copydb.check(target) == {"empty": True, "holding": {}}
    report = copydb.copy(target, source)
    assert report["tables"]["items"]["rows"] == 25 and report["tables"]["tokens"]["rows"] == 1
    assert report["revision"] == "0002"
    with api_client(target) as client:
        moved = {item["id"]: item for item in client.get("/api/items", params={"limit": 100}).json()["items"]}
    assert moved == served
    # The token issued on SQLite works on PostgreSQL: api_client issued a second one, so two are there now.
    assert copydb.check(target)["holding"] == {"items": 25, "tokens": 2}


def test_checksums_agree_with_an_independent_reading(seeded, postgres_url: str, tmp_path: Path) -> None:
    source, _ = seeded
    target = pg(postgres_url, tmp_path)
    report = copydb.copy(target, source)
    for conn_url, name in ((f"sqlite:///{source}", "sqlite"), (postgres_url, "postgres")):
        engine = create_engine(conn_url)
        try:
            with engine.connect() as conn:
                for table in copydb.metadata.sorted_tables:
                    assert copydb._summary(copydb.fingerprint(conn, table)) == report["tables"][table.name], (
                        name
                    )
        finally:
            engine.dispose()


def test_a_target_holding_anything_is_refused_untouched(seeded, postgres_url: str, tmp_path: Path) -> None:
    source, _ = seeded
    target = pg(postgres_url, tmp_path)
    copydb.copy(target, source)
    with pytest.raises(copydb.CopyRefused, match=r"not empty: it holds items \(25 rows\), tokens \(1 rows\)"):
        copydb.copy(target, source)
    assert copydb.check(target)["holding"] == {"items": 25, "tokens": 1}
    refused = dbtool(tmp_path, "copy-check", DATABASE_URL=postgres_url)
    assert refused.returncode == 3 and json.loads(refused.stdout)["empty"] is False


def test_a_foreign_table_makes_the_target_not_empty(postgres_url: str, tmp_path: Path) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE invoices (id integer)")
    finally:
        engine.dispose()
    assert copydb.check(pg(postgres_url, tmp_path)) == {"empty": False, "holding": {"invoices": -1}}


def test_a_copy_past_its_deadline_leaves_the_target_empty(seeded, postgres_url: str, tmp_path: Path) -> None:
    source, _ = seeded
    target = pg(postgres_url, tmp_path)
    with pytest.raises(copydb.CopyFailed, match="longer than 0s"):
        copydb.copy(target, source, deadline_seconds=1e-9)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == [], "the rolled-back copy left tables behind"
    finally:
        engine.dispose()
    assert copydb.copy(target, source)["tables"]["items"]["rows"] == 25


def test_the_cli_copies_and_clears(seeded, postgres_url: str, tmp_path: Path) -> None:
    source, _ = seeded
    copied = dbtool(tmp_path, "copy", str(source), "--deadline", "60", DATABASE_URL=postgres_url)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["tables"]["items"]["rows"] == 25
    again = dbtool(tmp_path, "copy", str(source), DATABASE_URL=postgres_url)
    assert (
        again.returncode == 3 and "refused, nothing changed: the target database is not empty" in again.stderr
    )
    cleared = dbtool(tmp_path, "copy-clear", DATABASE_URL=postgres_url)
    assert cleared.returncode == 0 and json.loads(cleared.stdout) == {"cleared": ["tokens", "items"]}
    assert copydb.check(pg(postgres_url, tmp_path))["empty"] is True


def test_a_source_behind_the_release_is_refused(postgres_url: str, tmp_path: Path) -> None:
    upgrade(sqlite(tmp_path), "0001")
    with pytest.raises(copydb.CopyRefused, match="at schema revision 0001"):
        copydb.copy(pg(postgres_url, tmp_path), tmp_path / "data" / "app.db")
