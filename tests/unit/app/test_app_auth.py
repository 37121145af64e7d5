"""Writes need a write token; reads are public unless PUBLIC_READS=false; 401 and 403 say why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from support.app_helpers import TEST_SECRET, api_client, bearer, issue_token, unregistered_token

from app.factory import create_app
from app.migrate import upgrade

REPO = Path(__file__).resolve().parents[3]
ITEM = {"name": "a", "data": {}}


def _refused(response, status: int, code: str, challenge: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"] == challenge


@pytest.fixture
def anonymous(settings) -> TestClient:
    with TestClient(create_app(settings)) as client:
        yield client


def test_writes_without_a_token_are_401(client: TestClient, anonymous: TestClient) -> None:
    item = client.post("/api/items", json=ITEM).json()
    for method, path in [
        ("POST", "/api/items"),
        ("PUT", f"/api/items/{item['id']}"),
        ("DELETE", f"/api/items/{item['id']}"),
    ]:
        response = anonymous.request(method, path, json=ITEM)
        _refused(response, 401, "missing_token", 'Bearer realm="webapp"')
    assert anonymous.get(f"/api/items/{item['id']}").json() == item  # untouched, and reads are public


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "bearer wapp_0123456789abcdef_" + "A" * 43,  # right shape, wrong MAC
        "Bearer wapp_0123456789abcdef_" + "A" * 44,
    ],
)
def test_malformed_or_forged_tokens_are_401(anonymous: TestClient, header: str) -> None:
    response = anonymous.post("/api/items", json=ITEM, headers={"Authorization": header})
    _refused(response, 401, "invalid_token", 'Bearer realm="webapp", error="invalid_token"')


def test_a_correctly_signed_token_never_issued_is_401(settings, anonymous: TestClient) -> None:
    response = anonymous.post("/api/items", json=ITEM, headers=bearer(unregistered_token(settings)))
    _refused(response, 401, "invalid_token", 'Bearer realm="webapp", error="invalid_token"')


def test_token_scheme_is_case_insensitive(settings, anonymous: TestClient) -> None:
    token = issue_token(settings)
    assert (
        anonymous.post("/api/items", json=ITEM, headers={"Authorization": f"bEaReR {token}"}).status_code
        == 201
    )


def test_a_read_token_may_not_write(settings, anonymous: TestClient) -> None:
    token = issue_token(settings, "reader", scope="read")
    response = anonymous.post("/api/items", json=ITEM, headers=bearer(token))
    _refused(
        response,
        403,
        "insufficient_scope",
        'Bearer realm="webapp", error="insufficient_scope", scope="write"',
    )


def test_no_body_is_read_for_an_unauthenticated_write(anonymous: TestClient) -> None:
    # Refused on the header alone: a body larger than MAX_BODY_BYTES still gets 401, not 413.
    response = anonymous.post("/api/items", content=b"x" * (2 * 1024 * 1024))
    assert response.status_code == 401


def test_revoked_token_is_401_at_once(settings) -> None:
    token = issue_token(settings, "short-lived")
    with api_client(settings, token) as client:
        assert client.post("/api/items", json=ITEM).status_code == 201
        assert _tokens(settings.url.database, "revoke", "short-lived").returncode == 0
        _refused(
            client.post("/api/items", json=ITEM),
            401,
            "invalid_token",
            'Bearer realm="webapp", error="invalid_token"',
        )


def test_private_reads_need_a_token_of_either_scope(make_settings) -> None:
    settings = make_settings(PUBLIC_READS="false")
    upgrade(settings)
    reader = issue_token(settings, "reader", scope="read")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200  # the health gate needs no token
        _refused(client.get("/api/items"), 401, "missing_token", 'Bearer realm="webapp"')
        _refused(
            client.get(f"/api/items/{'0' * 8}-0000-4000-8000-{'0' * 12}"),
            401,
            "missing_token",
            'Bearer realm="webapp"',
        )
        assert client.get("/api/items", headers=bearer(reader)).status_code == 200
        assert client.get("/api/items", headers=bearer(issue_token(settings))).status_code == 200


def test_a_new_secret_key_ends_every_token(make_settings) -> None:
    settings = make_settings()
    upgrade(settings)
    token = issue_token(settings)
    rotated = make_settings(SECRET_KEY="another-secret-key-of-32-bytes-or-more")
    with api_client(rotated, token) as client:
        assert client.post("/api/items", json=ITEM).status_code == 401


def test_a_short_secret_key_refuses_every_token(make_settings) -> None:
    upgrade(make_settings())
    token = issue_token(make_settings())
    with api_client(make_settings(SECRET_KEY="too-short"), token) as client:
        assert client.post("/api/items", json=ITEM).status_code == 401
        assert client.get("/api/items").status_code == 200


# --- the command: python -m app.tokens ---------------------------------------------------------------


def _tokens(database: str, *args: str, secret: str = TEST_SECRET) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": secret,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.tokens", *args], env=env, capture_output=True, text=True
    )


def test_issue_list_revoke(settings) -> None:
    db = settings.url.database
    issued = _tokens(db, "issue", "ci")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert issued.stdout.count("\n") == 1 and token.startswith("wapp_")
    assert token not in issued.stderr
    listed = _tokens(db, "list")
    assert token not in listed.stdout and token[22:] not in listed.stdout  # the secret part is stored nowhere
    (entry,) = json.loads(listed.stdout)["tokens"]
    assert (entry["name"], entry["scope"], entry["revoked_at"]) == ("ci", "write", None)
    assert entry["id"] == token[5:21]
    with api_client(settings, token) as client:
        assert client.post("/api/items", json=ITEM).status_code == 201
    revoked = _tokens(db, "revoke", entry["id"])
    assert json.loads(revoked.stdout) == {"revoked": [entry["id"]]}
    assert json.loads(_tokens(db, "list").stdout)["tokens"][0]["revoked_at"] is not None
    assert _tokens(db, "revoke", "ci").returncode == 1  # nothing active is left under that name
    assert _tokens(db, "issue", "ci").returncode == 0  # a revoked token's name can be used again


def test_an_active_name_is_not_issued_twice(settings) -> None:
    db = settings.url.database
    assert _tokens(db, "issue", "twice").returncode == 0
    again = _tokens(db, "issue", "twice")
    assert again.returncode == 1
    assert "revoke it first" in again.stderr and "wapp_" not in again.stdout + again.stderr


@pytest.mark.parametrize("secret", ["", "short-key", "x" * 31])
def test_issue_refuses_a_short_secret_key_and_says_how_to_make_one(settings, secret: str) -> None:
    result = _tokens(settings.url.database, "issue", "weak", secret=secret)
    assert result.returncode == 2
    assert "at least 32 bytes" in result.stderr and "secrets.token_urlsafe" in result.stderr
    assert result.stdout == ""
    if secret:
        assert secret not in result.stderr


@pytest.mark.parametrize("name", ["", "-dash", "a b", "x" * 101, "naïve"])
def test_issue_refuses_odd_names(settings, name: str) -> None:
    assert _tokens(settings.url.database, "issue", name).returncode == 2


def test_issue_without_a_database_creates_none(tmp_path: Path) -> None:
    result = _tokens(str(tmp_path / "app.db"), "issue", "early")
    assert result.returncode == 1
    assert "no database at" in result.stderr
    assert not (tmp_path / "app.db").exists()


def test_issue_on_an_unmigrated_database_is_a_clean_error(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "app.db").close()
    result = _tokens(str(tmp_path / "app.db"), "issue", "early")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "app.migrate" in result.stderr
