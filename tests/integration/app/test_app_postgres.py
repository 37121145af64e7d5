"""The same migrations and API against a real PostgreSQL server (tests/support/ensure-postgres.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from starlette.testclient import TestClient
from support.app_helpers import TEST_SECRET, api_client, unregistered_token

from app.factory import create_app
from app.migrate import head_revision, upgrade
from app.settings import load_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(postgres_url: str, tmp_path: Path):
    settings = load_settings(environ={"DATABASE_URL": postgres_url, "SECRET_KEY": TEST_SECRET}, cwd=tmp_path)
    assert upgrade(settings) == head_revision()
    return settings


def test_migrations_create_portable_columns(pg_settings) -> None:
    engine = create_engine(pg_settings.url)
    try:
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("items")}
    finally:
        engine.dispose()
    assert str(columns["id"]) == "VARCHAR(36)"
    assert str(columns["data"]) == "JSON"
    assert str(columns["created_at"]) == "TIMESTAMP"
    assert columns["created_at"].timezone is True


def test_api_round_trip_and_paging(pg_settings) -> None:
    with api_client(pg_settings) as client:
        assert client.get("/health").json()["revision"] == "0002"
        ids = [
            client.post("/api/items", json={"name": f"n{i}", "data": {"i": i, "f": 0.1}}).json()["id"]
            for i in range(7)
        ]
        seen, cursor = [], None
        while True:
            body = client.get(
                "/api/items", params={"limit": "3"} | ({"cursor": cursor} if cursor else {})
            ).json()
            seen += [item["id"] for item in body["items"]]
            if not (cursor := body["next_cursor"]):
                break
        assert seen == ids
        item = client.put(
            f"/api/items/{ids[0]}", json={"name": "z", "data": {"nested": {"a": [1, None]}}}
        ).json()
        assert client.get(f"/api/items/{ids[0]}").json() == item
        assert client.delete(f"/api/items/{ids[0]}").status_code == 204


def test_values_sqlite_accepts_are_not_a_500_on_postgresql(pg_settings) -> None:
    with api_client(pg_settings) as client:
        response = client.post("/api/items", json={"name": "nul", "data": {"s": "a\u0000b", "big": 10**30}})
        # json (not jsonb) keeps \u0000 escaped, so this stores; names with NUL are refused (422).
        assert response.status_code == 201, response.text
        assert client.get(f"/api/items/{response.json()['id']}").json()["data"]["s"] == "a\u0000b"


def test_unreachable_server_is_503(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u:pw@127.0.0.1:1/none"
    with TestClient(create_app(load_settings(environ={"DATABASE_URL": url}, cwd=tmp_path))) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_error"


def test_not_migrated_is_503(postgres_url: str, tmp_path: Path) -> None:
    settings = load_settings(environ={"DATABASE_URL": postgres_url, "SECRET_KEY": TEST_SECRET}, cwd=tmp_path)
    with api_client(settings, unregistered_token(settings)) as client:
        assert client.get("/api/items").json()["error"]["code"] == "database_not_migrated"
        # The token is looked up in the missing table: the same 503, not a 401.
        response = client.post("/api/items", json={"name": "a", "data": {}})
        assert response.json()["error"]["code"] == "database_not_migrated"
