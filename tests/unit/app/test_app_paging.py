"""Keyset paging: every item exactly once, in creation order, with opaque cursors."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient
from support.app_helpers import api_client


def _create(client: TestClient, count: int) -> list[str]:
    return [
        client.post("/api/items", json={"name": f"n{i}", "data": {"i": i}}).json()["id"] for i in range(count)
    ]


def _walk(client: TestClient, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        params = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/items", params=params).json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_pages_cover_every_item_once_in_order(client: TestClient) -> None:
    ids = _create(client, 23)
    pages = _walk(client, 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == ids


def test_exact_multiple_has_no_empty_trailing_page(client: TestClient) -> None:
    _create(client, 10)
    assert [len(p) for p in _walk(client, 5)] == [5, 5]


def test_empty_collection(client: TestClient) -> None:
    assert client.get("/api/items").json() == {"items": [], "next_cursor": None}


def test_items_created_while_paging_are_not_skipped(client: TestClient) -> None:
    first = _create(client, 3)
    body = client.get("/api/items", params={"limit": "2"}).json()
    later = _create(client, 2)
    rest = client.get("/api/items", params={"limit": "10", "cursor": body["next_cursor"]}).json()
    assert [i["id"] for i in body["items"] + rest["items"]] == first + later


def test_default_limit_and_clamp(make_settings) -> None:
    from app.migrate import upgrade

    settings = make_settings(PAGE_DEFAULT_LIMIT="3", PAGE_MAX_LIMIT="4")
    upgrade(settings)
    with api_client(settings) as client:
        _create(client, 6)
        assert len(client.get("/api/items").json()["items"]) == 3
        assert len(client.get("/api/items?limit=1000").json()["items"]) == 4
        assert len(client.get("/api/items?limit=" + "9" * 40).json()["items"]) == 4


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "", "²", " 5"])
def test_bad_limit_is_400(client: TestClient, limit: str) -> None:
    response = client.get("/api/items", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_limit"


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "abc",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["2024-01-01T00:00:00", "not-a-uuid"]').decode(),
        base64.urlsafe_b64encode(b'["2024-01-01T00:00:00", "6a1f7b4e-0000-4000-8000-000000000000"]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "é",
    ],
)
def test_bad_cursor_is_400(client: TestClient, cursor: str) -> None:
    response = client.get("/api/items", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
