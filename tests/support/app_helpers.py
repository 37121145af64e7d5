"""What the app tests share besides fixtures: a SECRET_KEY, tokens, and clients that carry one."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from app.auth import new_token, signing_key
from app.db import Database
from app.factory import create_app
from app.settings import Settings
from app.tokens import issue

# 32 bytes or more: shorter keys sign no tokens.
TEST_SECRET = "app-tests-secret-key-0123456789abcdef"


def issue_token(settings: Settings, name: str = "tests", scope: str = "write") -> str:
    """A token issued the way `python -m app.tokens issue` does (the schema must be migrated)."""
    db = Database(settings)
    try:
        return issue(db, settings, name, scope)
    finally:
        db.dispose()


def unregistered_token(settings: Settings) -> str:
    """A token signed with the right key that no database row backs (never issued)."""
    return new_token(signing_key(str(settings.secret_key)))[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_client(settings: Settings, token: str | None = None, **kwargs: Any) -> TestClient:
    """A TestClient whose every request carries a write token (issued now unless one is given)."""
    token = token if token is not None else issue_token(settings, name=f"client-{id(kwargs)}")
    return TestClient(create_app(settings), headers=bearer(token), **kwargs)
