"""No input answers 5xx: every route, driven with generated hostile methods, paths, query strings,
headers and bodies, answers below 500, and every 4xx carries the documented error body."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from support.app_helpers import issue_token, unregistered_token

from app.factory import create_app

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]
# Header values travel as latin-1: any of those characters, controls excepted.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


cursors = st.one_of(
    st.text(max_size=300),
    json_values.map(lambda v: b64(json.dumps(v).encode())),
    st.binary(max_size=100).map(b64),
    st.builds(
        lambda when, ident: b64(json.dumps([when.isoformat(), str(ident)]).encode()),
        st.datetimes(timezones=st.timezones()),
        st.uuids(),
    ),
    st.integers(1, 5000).map(lambda n: b64(b"[" * n + b"]" * n)),
)
limits = st.one_of(st.text(max_size=30), st.integers(-(10**30), 10**30).map(str), st.just("9" * 5000))
queries = st.dictionaries(
    st.sampled_from(["limit", "cursor", "q", "", "limit[]"]), st.one_of(limits, cursors), max_size=3
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda name, data: json.dumps({"name": name, "data": data}).encode(), json_values, json_values),
    st.integers(1, 3000).map(lambda n: b'{"name": "a", "data": ' + b'{"a":' * n + b"1" + b"}" * n + b"}"),
)


def _check(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.request.method != "HEAD":
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]


@pytest.fixture
def hostile(settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client with no default headers, and the Authorization values the examples pick from."""
    tokens = {
        "WRITE": "Bearer " + issue_token(settings, "hostile-write"),
        "READ": "Bearer " + issue_token(settings, "hostile-read", scope="read"),
        "UNREGISTERED": "Bearer " + unregistered_token(settings),
    }
    with TestClient(create_app(settings)) as client:
        yield client, tokens


# Derandomized: the same examples every run (a property test must not pass or fail by chance).
PROPERTY = hsettings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(
    method=st.sampled_from(METHODS),
    path=st.one_of(
        st.sampled_from(["/health", "/api/items", "/api/items/", "/", "/api", "/api/items/KNOWN"]),
        # Percent-encoded: the server decodes them back into any character at all.
        st.text(max_size=60).map(lambda t: "/api/items/" + quote(t, safe="/")),
        st.uuids(version=4).map(lambda u: f"/api/items/{u}"),
        st.text(max_size=60).map(lambda t: "/" + quote(t, safe="/")),
    ),
    query=queries,
    auth=st.one_of(
        st.none(),
        st.sampled_from(["WRITE", "READ", "UNREGISTERED", "Bearer", "Bearer ", "Basic dXNlcjpwdw=="]),
        header_text,
        header_text.map(lambda t: "Bearer " + t),
        st.text("abcdef0123456789", min_size=16, max_size=16).map(lambda t: f"Bearer wapp_{t}_{'A' * 43}"),
    ),
    content_type=st.one_of(st.none(), st.just("application/json"), header_text),
    body=st.one_of(st.none(), bodies),
)
def test_every_route_answers_below_500_with_an_error_body(
    hostile, method, path, query, auth, content_type, body
) -> None:
    client, tokens = hostile
    known = client.post(
        "/api/items", json={"name": "known", "data": {}}, headers={"Authorization": tokens["WRITE"]}
    )
    path = path.replace("KNOWN", known.json()["id"])
    headers: dict[str, bytes] = {}  # bytes: httpx would only take ASCII text
    if auth is not None:
        headers["Authorization"] = tokens.get(auth, auth).encode("latin-1")
    if content_type is not None:
        headers["Content-Type"] = content_type.encode("latin-1")
    _check(client.request(method, path, params=query, content=body, headers=headers))


@PROPERTY
@given(query=st.fixed_dictionaries({}, optional={"limit": limits, "cursor": cursors}))
def test_paging_parameters_answer_below_500(client: TestClient, query: dict[str, str]) -> None:
    # The page route's parameters alone: each example reaches the cursor and limit parsers.
    _check(client.get("/api/items", params=query))


@PROPERTY
@given(
    method=st.sampled_from(["POST", "PUT", "DELETE"]),
    headers=st.dictionaries(
        st.sampled_from(
            ["Authorization", "Content-Type", "Content-Length", "Transfer-Encoding", "X-Forwarded-For"]
        ),
        # Number-like text too: digits that are not ASCII ("\xb2" is "²"), signs, very long numbers.
        header_text | st.text("0123456789\xb2\xb3\xb9 +-", max_size=30) | st.just("9" * 5000),
        max_size=3,
    ),
    body=bodies,
)
def test_hostile_headers_on_writes_answer_below_500(
    hostile, method: str, headers: dict[str, str], body: bytes
) -> None:
    client, tokens = hostile
    path = "/api/items" if method == "POST" else "/api/items/5f0c2a4e-8d1b-4c3e-9a7f-2b6d1e0c9f48"
    raw = {"Authorization": tokens["WRITE"].encode()} | {k: v.encode("latin-1") for k, v in headers.items()}
    if "Content-Length" in raw or "Transfer-Encoding" in raw:
        # httpx frames the body by these: send it through the ASGI app with the headers as given.
        _check(_asgi_request(client, method, path, raw, body))
    else:
        _check(client.request(method, path, content=body, headers=raw))


def _asgi_request(client: TestClient, method: str, path: str, headers: dict[str, bytes], body: bytes):
    """One request handed straight to the app, headers exactly as given (no client framing)."""
    import httpx

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80), "headers": [(k.lower().encode(), v) for k, v in headers.items()],
        "state": {},
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    client.portal.call(client.app, scope, receive, send)
    start = sent[0]
    content = b"".join(m.get("body", b"") for m in sent[1:])
    response = httpx.Response(start["status"], headers=start.get("headers", []), content=content)
    response.request = httpx.Request(method, "http://testserver" + path)
    return response
