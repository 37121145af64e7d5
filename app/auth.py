"""Bearer tokens: how they are made from SECRET_KEY and checked on a request.

A token is `wapp_<id>_<mac>`: id is 16 random hex digits (public, stored in the tokens table with a
name and a scope), mac the base64url HMAC-SHA256 of the id under a key derived from SECRET_KEY. The
token itself is stored nowhere: a stolen database holds nothing that authenticates, changing
SECRET_KEY invalidates every token at once, and a row is what keeps a token valid (revoking it, or
restoring a backup older than it, ends it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from app.errors import ApiError
from app.settings import SECRET_KEY_MIN_BYTES

SCOPES = ("read", "write")
PREFIX = "wapp_"
TOKEN_PATTERN = re.compile(r"wapp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
REALM = 'Bearer realm="webapp"'


class SecretKeyError(ValueError):
    """SECRET_KEY is unset or too short to sign tokens with."""


def signing_key(secret_key: str) -> bytes:
    raw = secret_key.encode("utf-8")
    if len(raw) < SECRET_KEY_MIN_BYTES:
        raise SecretKeyError(
            f"SECRET_KEY must be at least {SECRET_KEY_MIN_BYTES} bytes to sign tokens; make one with: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    # Derived, so the raw key signs nothing directly and other uses of it can't collide with this one.
    return hmac.new(raw, b"webapp api tokens v1", hashlib.sha256).digest()


def _mac(key: bytes, token_id: str) -> str:
    digest = hmac.new(key, token_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_token(key: bytes) -> tuple[str, str]:
    """A fresh (id, token) pair; the caller stores the id."""
    token_id = secrets.token_hex(8)
    return token_id, f"{PREFIX}{token_id}_{_mac(key, token_id)}"


# header -> token id, for headers whose MAC checked out (a client sends the same one again and again)
_verified: dict[tuple[bytes, str], str] = {}
_VERIFIED_MAX = 4096


def token_id_of(key: bytes | None, header: str | None) -> str:
    """The id of the token in an Authorization header whose MAC checks out; ApiError(401) otherwise."""
    if header is None:
        raise unauthorized("missing_token", "this request needs an Authorization: Bearer token", None)
    if key is not None and (known := _verified.get((key, header))) is not None:
        return known
    scheme, _, credentials = header.strip().partition(" ")
    match = TOKEN_PATTERN.fullmatch(credentials.strip()) if scheme.lower() == "bearer" else None
    if match is None or key is None or not hmac.compare_digest(match.group(2), _mac(key, match.group(1))):
        raise unauthorized("invalid_token", "the bearer token is not valid", "invalid_token")
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(key, header)] = match.group(1)
    return match.group(1)


def unauthorized(code: str, message: str, error: str | None) -> ApiError:
    challenge = REALM + (f', error="{error}"' if error else "")
    return ApiError(401, code, message, {"WWW-Authenticate": challenge})


def forbidden(scope: str) -> ApiError:
    challenge = f'{REALM}, error="insufficient_scope", scope="{scope}"'
    return ApiError(403, "insufficient_scope", f"this token may not {scope}", {"WWW-Authenticate": challenge})
