"""Which tokens this process has already found valid, until the token command changes any.

Under write load a database lookup per request is not free: every commit moves the WAL on, and
the next read pays for catching up. Tokens change only through `python -m app.tokens`, which
replaces a stamp file beside the database after each change; a changed stamp (a new inode) empties
the cache, so a revocation holds from the moment the command returns. Only valid tokens are
cached; an unknown or revoked one is looked up every time.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MAX_ENTRIES = 10_000
Stamp = tuple[int, int, int] | None


def stamp_path(database: Path) -> Path:
    return database.with_name(database.name + "-tokens")


def touch_stamp(database: Path) -> None:
    """Tell every serving process that tokens changed (called by the token command)."""
    path = stamp_path(database)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    partial.write_text(secrets.token_hex(16))
    os.replace(partial, path)


class TokenCache:
    def __init__(self, database: Path | None) -> None:
        self._path = stamp_path(database) if database is not None else None
        self._seen: Stamp = None
        self._scopes: dict[str, str] = {}

    def _stamp(self) -> Stamp:
        try:
            st = os.stat(self._path)  # type: ignore[arg-type]
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def get(self, token_id: str) -> str | None:
        if self._path is None:
            return None
        stamp = self._stamp()
        if stamp != self._seen:
            self._scopes.clear()
            self._seen = stamp
        return self._scopes.get(token_id)

    def put(self, token_id: str, scope: str) -> None:
        if self._path is None:
            return
        if len(self._scopes) >= MAX_ENTRIES:
            self._scopes.clear()
        self._scopes[token_id] = scope
