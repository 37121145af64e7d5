"""What the app tests share besides fixtures: a SECRET_KEY, tokens, and clients that carry one."""

from __future__ import annotations

import warnings
from typing import Any

# starlette's TestClient still works on httpx; its notice about httpx2 is not ours to act on.
warnings.filterwarnings("ignore", message="Using `httpx`")
from starlette.testclient import TestClient  # noqa: E402

from app.auth import new_token, signing_key  # noqa: E402
from app.db import Database  # noqa: E402
from app.factory import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.tokens import issue  # noqa: E402

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
