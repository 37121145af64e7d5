"""API tokens for operators (run in the app container with `docker exec`):

    python -m app.tokens issue NAME [--scope write|read]   print a new token, once, on stdout
    python -m app.tokens list                              every token's id, name, scope and dates (JSON)
    python -m app.tokens revoke NAME_OR_ID                 end a token now (JSON)

A token is shown only when issued: keep it then (a password manager, a CI secret). It needs the
SECRET_KEY the service runs with; changing that key ends every token. Exit 0 when done, 1 when the
database refuses or nothing matched, 2 for a usage or configuration mistake.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.auth import SCOPES, SecretKeyError, new_token, signing_key
from app.db import Database, DatabaseSetupError, sqlite_path
from app.errors import classify_database_error
from app.models import tokens
from app.settings import Settings, SettingsError, load_settings
from app.token_cache import touch_stamp

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")


class ToolError(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def issue(db: Database, settings: Settings, name: str, scope: str) -> str:
    if not NAME.fullmatch(name):
        raise ToolError("NAME must be 1 to 100 letters, digits or ._@+- starting with a letter or digit", 2)
    try:
        key = signing_key(str(settings.secret_key))
    except SecretKeyError as exc:
        raise ToolError(str(exc), 2) from None
    token_id, token = new_token(key)
    row = {"id": token_id, "name": name, "scope": scope, "created_at": datetime.now(UTC), "revoked_at": None}
    try:
        with db.write() as session:
            session.execute(insert(tokens).values(**row))
    except IntegrityError:
        message = f"an active token named {name} exists: revoke it first, or choose another name"
        raise ToolError(message) from None
    return token


def listing(db: Database) -> dict[str, Any]:
    with db.read() as session:
        rows = session.execute(select(tokens).order_by(tokens.c.created_at, tokens.c.id)).mappings().all()
    return {
        "tokens": [
            {
                "id": r["id"],
                "name": r["name"],
                "scope": r["scope"],
                "created_at": _iso(r["created_at"]),
                "revoked_at": _iso(r["revoked_at"]),
            }
            for r in rows
        ]
    }


def revoke(db: Database, name_or_id: str) -> dict[str, Any]:
    with db.write() as session:
        result = session.execute(
            update(tokens)
            .where(or_(tokens.c.id == name_or_id, tokens.c.name == name_or_id), tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .returning(tokens.c.id)
        )
        revoked = sorted(r[0] for r in result)
    if not revoked:
        raise ToolError(f"no active token has the name or id {name_or_id}")
    return {"revoked": revoked}


def _changed(database: Path | None) -> None:
    """Tell the running service its cached tokens are stale (app/token_cache.py)."""
    if database is None:
        return
    try:
        touch_stamp(database)
    except OSError as exc:
        print(
            f"tokens: warning: cannot tell the running service ({exc.strerror}): it may accept a revoked"
            " token until it restarts",
            file=sys.stderr,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.tokens", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    issuing = sub.add_parser("issue", help="print a new token (shown only this once)")
    issuing.add_argument("name")
    issuing.add_argument("--scope", choices=SCOPES, default="write", help="write (default) may also read")
    sub.add_parser("list", help="the tokens issued, as JSON")
    sub.add_parser("revoke", help="end the active token with this name or id").add_argument("name_or_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(env_file=Path(".env"))
    except SettingsError as exc:
        print(f"tokens: configuration error: {exc}", file=sys.stderr)
        return 2
    path = sqlite_path(settings.url)
    if path is not None and not path.is_file():
        # Opening it would create an empty database where the service's should be.
        print(f"tokens: no database at {path}: start the service (it migrates) first", file=sys.stderr)
        return 1
    try:
        db = Database(settings)
    except DatabaseSetupError as exc:
        print(f"tokens: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "issue":
            token = issue(db, settings, args.name, args.scope)
            _changed(path)
            note = f"tokens: issued a {args.scope} token named {args.name}; it is not shown again"
            print(note, file=sys.stderr)
            print(token)
        else:
            print(json.dumps(listing(db) if args.command == "list" else revoke(db, args.name_or_id)))
            if args.command == "revoke":
                _changed(path)
    except ToolError as exc:
        print(f"tokens: {args.command}: {exc}", file=sys.stderr)
        return exc.status
    except SQLAlchemyError as exc:
        print(f"tokens: {args.command}: {classify_database_error(exc).message}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
