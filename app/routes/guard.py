"""Who may do what: writes need a token with the write scope; reads one only when PUBLIC_READS=false."""

from __future__ import annotations

from starlette.requests import Request

from app.auth import forbidden, token_id_of, unauthorized
from app.state import settings_of, signing_key_of, store_of


async def authorize(request: Request, scope: str) -> None:
    if scope == "read" and settings_of(request).public_reads:
        return
    token_id = token_id_of(signing_key_of(request), request.headers.get("authorization"))
    granted = await store_of(request).token_scope(token_id)
    if granted is None:  # never issued here, or revoked
        raise unauthorized("invalid_token", "the bearer token is not valid", "invalid_token")
    if scope == "write" and granted != "write":
        raise forbidden("write")
