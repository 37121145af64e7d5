"""The items API end to end through the ASGI app, on a real SQLite file."""

from __future__ import annotations

import re
import uuid

import pytest
from starlette.testclient import TestClient
from support.app_helpers import api_client, issue_token

# Fixed, not random: parallel test workers must collect the same test ids.
UNKNOWN_ID = "5f0c2a4e-8d1b-4c3e-9a7f-2b6d1e0c9f48"

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_health_reports_database_revision_and_version(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "revision": "0002", "version": "dev"}


def test_create_then_read_back(client: TestClient) -> None:
    created = client.post("/api/items", json={"name": "first", "data": {"n": 1, "tags": ["a"]}})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "name", "data", "created_at", "updated_at"}
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert ISO_UTC.match(body["created_at"]) and body["created_at"] == body["updated_at"]
    assert created.headers["location"] == f"/api/items/{body['id']}"
    assert client.get(f"/api/items/{body['id']}").json() == body


def test_put_replaces_and_moves_updated_at(client: TestClient) -> None:
    item = client.post("/api/items", json={"name": "a", "data": {"x": 1}}).json()
    replaced = client.put(f"/api/items/{item['id']}", json={"name": "b", "data": {"y": [None, True]}})
    assert replaced.status_code == 200
    body = replaced.json()
    assert (body["name"], body["data"], body["created_at"]) == ("b", {"y": [None, True]}, item["created_at"])
    assert body["updated_at"] >= item["updated_at"]
    assert client.get(f"/api/items/{item['id']}").json() == body


def test_delete_then_gone(client: TestClient) -> None:
    item = client.post("/api/items", json={"name": "a", "data": {}}).json()
    deleted = client.delete(f"/api/items/{item['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(f"/api/items/{item['id']}").status_code == 404
    assert client.delete(f"/api/items/{item['id']}").status_code == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "item_id",
    [UNKNOWN_ID, "nope", "1", UNKNOWN_ID.upper(), UNKNOWN_ID.replace("-", ""), "%00", "..%2F..%2Fetc"],
)
def test_unknown_or_malformed_id_is_404(client: TestClient, method: str, item_id: str) -> None:
    response = client.request(method, f"/api/items/{item_id}", json={"name": "a", "data": {}})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/items"),
        ("DELETE", "/api/items"),
        ("POST", "/health"),
        ("POST", f"/api/items/{UNKNOWN_ID}"),
    ],
)
def test_wrong_method_is_json_405_with_allow(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_unexpected_failure_is_json_500(make_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.factory import create_app
    from app.migrate import upgrade

    settings = make_settings()
    upgrade(settings)
    app = create_app(settings)

    async def boom(request):
        raise RuntimeError("unexpected")

    app.router.add_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal server error"}}


def test_data_survives_an_app_restart(settings) -> None:
    token = issue_token(settings)
    with api_client(settings, token) as client:
        item = client.post("/api/items", json={"name": "kept", "data": {"k": "v"}}).json()
    with api_client(settings, token) as client:
        assert client.get(f"/api/items/{item['id']}").json() == item
