"""Which tokens this process has already found valid, until the token command changes any.

Under write load a database lookup per request is not free: every commit moves the WAL on, and
the next read pays for catching up. Tokens change only through `python -m app.tokens`, which
writes new random bytes into a small stamp file beside the database after each change. Every
serving process maps that file into memory and compares its bytes on each request (no system
call): a change empties the cache, so a revocation holds from the moment the command returns.
Only valid tokens are cached; an unknown or revoked one is looked up every time.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
from pathlib import Path

MAX_ENTRIES = 10_000
STAMP_BYTES = 16


def stamp_path(database: Path) -> Path:
    return database.with_name(database.name + "-tokens")


def _open_stamp(database: Path) -> int:
    fd = os.open(stamp_path(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if os.fstat(fd).st_size < STAMP_BYTES:
        os.ftruncate(fd, STAMP_BYTES)
    return fd


def touch_stamp(database: Path) -> None:
    """Tell every serving process that tokens changed (called by the token command). Written in
    place, never replaced: the processes keep the file mapped."""
    fd = _open_stamp(database)
    try:
        os.pwrite(fd, secrets.token_bytes(STAMP_BYTES), 0)
    finally:
        os.close(fd)


class TokenCache:
    def __init__(self, database: Path | None) -> None:
        self._map: mmap.mmap | None = None
        if database is not None:
            # Where the stamp can't be made (a read-only directory), go without the cache.
            with contextlib.suppress(OSError, ValueError):
                fd = _open_stamp(database)
                try:
                    self._map = mmap.mmap(fd, STAMP_BYTES, prot=mmap.PROT_READ)
                finally:
                    os.close(fd)
        self._seen = b""
        self._scopes: dict[str, str] = {}

    def get(self, token_id: str) -> str | None:
        if self._map is None:
            return None
        stamp = self._map[:STAMP_BYTES]
        if stamp != self._seen:
            self._scopes.clear()
            self._seen = stamp
        return self._scopes.get(token_id)

    def put(self, token_id: str, scope: str) -> None:
        if self._map is None:
            return
        if len(self._scopes) >= MAX_ENTRIES:
            self._scopes.clear()
        self._scopes[token_id] = scope

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
