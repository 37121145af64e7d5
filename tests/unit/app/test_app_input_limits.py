"""Bad input is always a 4xx with a JSON error, never a 5xx; body size is enforced as it streams."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from support.app_helpers import api_client

SMALL_LIMIT = 4096


@pytest.fixture
def small_client(make_settings) -> Iterator[TestClient]:
    from app.migrate import upgrade

    settings = make_settings(MAX_BODY_BYTES=str(SMALL_LIMIT))
    upgrade(settings)
    with api_client(settings) as client:
        yield client


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"\xff\xfe{}",
        '{"name": "é", "data": {}}'.encode("latin-1"),
        b'{"name": "a", "data": {"x": NaN}}',
        b'{"name": "a", "data": {"x": -Infinity}}',
        b'{"name": "a", "data": {"x": 1e400}}',
        b'{"name": "a", "name": "b", "data": {}}',
        b"[" * 50000 + b"]" * 50000,
        b'{"name": "a", "data": {"n": ' + b"9" * 5000 + b"}}",
    ],
)
def test_malformed_json_is_400(client: TestClient, body: bytes) -> None:
    _error(client.post("/api/items", content=body), 400, "invalid_json")


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        {"name": "a"},
        {"data": {}},
        {"name": "a", "data": {}, "extra": 1},
        {"name": "", "data": {}},
        {"name": "x" * 201, "data": {}},
        {"name": 5, "data": {}},
        {"name": None, "data": {}},
        {"name": "a", "data": []},
        {"name": "a", "data": "text"},
        {"name": "a\x00b", "data": {}},
        {"name": "a", "data": {"deep": json.loads("[" * 40 + "]" * 40)}},
    ],
)
def test_invalid_item_is_422(client: TestClient, payload: object) -> None:
    _error(client.post("/api/items", json=payload), 422, "validation_error")


def test_lone_surrogate_is_refused_not_a_500(client: TestClient) -> None:
    _error(client.post("/api/items", content=b'{"name": "\\ud800", "data": {}}'), 422, "validation_error")
    body = b'{"name": "a", "data": {"\\udfff": 1}}'
    _error(client.post("/api/items", content=body), 422, "validation_error")


def test_name_of_exactly_200_characters_and_depth_32_are_accepted(client: TestClient) -> None:
    data = json.loads('{"a":' * 31 + "1" + "}" * 31)  # data itself is level 1: 32 levels of objects
    assert client.post("/api/items", json={"name": "n" * 200, "data": data}).status_code == 201


def test_put_validates_like_post(client: TestClient) -> None:
    item = client.post("/api/items", json={"name": "a", "data": {}}).json()
    _error(client.put(f"/api/items/{item['id']}", content=b"{"), 400, "invalid_json")
    _error(client.put(f"/api/items/{item['id']}", json={"name": ""}), 422, "validation_error")


def test_body_over_limit_is_413(small_client: TestClient) -> None:
    payload = {"name": "a", "data": {"x": "y" * SMALL_LIMIT}}
    _error(small_client.post("/api/items", json=payload), 413, "payload_too_large")


def test_body_at_limit_is_accepted(small_client: TestClient) -> None:
    empty = len(json.dumps({"name": "a", "data": {"x": ""}}).encode())
    payload = {"name": "a", "data": {"x": "y" * (SMALL_LIMIT - empty)}}
    assert len(json.dumps(payload).encode()) == SMALL_LIMIT
    assert small_client.post("/api/items", content=json.dumps(payload)).status_code == 201


def test_chunked_body_without_content_length_is_counted(small_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "a", "data": {"x": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}}'

    _error(small_client.post("/api/items", content=chunks()), 413, "payload_too_large")


def test_lying_content_length_is_not_trusted(small_client: TestClient) -> None:
    body = json.dumps({"name": "a", "data": {"x": "y" * 10000}}).encode()
    response = small_client.post("/api/items", content=body, headers={"Content-Length": "20"})
    _error(response, 413, "payload_too_large")


def test_declared_oversize_is_refused_before_reading(small_client: TestClient) -> None:
    response = small_client.post("/api/items", content=b"{}", headers={"Content-Length": "999999999"})
    _error(response, 413, "payload_too_large")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_never_cause_a_server_error(client: TestClient, body: bytes) -> None:
    response = client.post("/api/items", content=body)
    assert response.status_code in (201, 400, 413, 422), response.text
    assert response.headers["content-type"] == "application/json"


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=250), data=st.dictionaries(st.text(), json_values, max_size=5))
def test_arbitrary_items_store_and_read_back_or_are_refused(
    client: TestClient, name: str, data: dict
) -> None:
    response = client.post("/api/items", json={"name": name, "data": data})
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        stored = client.get(f"/api/items/{response.json()['id']}").json()
        assert (stored["name"], stored["data"]) == (name, data)
