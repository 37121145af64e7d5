"""Database chores for operators and the Ansible roles (run with `docker exec`).

    python -m app.dbtool backup DEST   online copy of the SQLite database, verified
    python -m app.dbtool check PATH    integrity and schema revision of a SQLite file
    python -m app.dbtool revision      schema revision of the configured database
    python -m app.dbtool copy-check    is the configured database empty (to move a SQLite one into)?
    python -m app.dbtool copy SOURCE [--deadline SECONDS]
                                       copy the SQLite file SOURCE into the (empty) configured
                                       database, verified row by row (app/copydb.py)
    python -m app.dbtool copy-clear    empty the app's tables of the configured database (undo a copy)

Each prints one JSON object on stdout. Exit 0 when all is well, 1 when the database or file is bad
(the reason on stderr, and in the JSON for check), 2 for a usage or configuration mistake, 3 when a
copy is refused with nothing changed (copy-check: the target is not empty).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app import copydb
from app.db import one_connection, sqlite_path
from app.errors import classify_database_error
from app.migrate import current_revision, head_revision, known_revisions
from app.settings import Settings, SettingsError, load_settings


class ToolError(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def _open(path: Path, mode: str, timeout_ms: int = 5000) -> Iterator[sqlite3.Connection]:
    # mode=ro/rw never creates a file: a typo in a path must not leave an empty database behind.
    try:
        conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise ToolError(f"cannot open {path}: {exc}") from None
    try:
        yield conn
    finally:
        conn.close()


def _inspect(conn: sqlite3.Connection) -> tuple[str, str | None]:
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    integrity = "ok" if rows == ["ok"] else "; ".join(rows[:5])
    try:
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no alembic_version table: never migrated
        found = None
    return integrity, found[0] if found else None


def check(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ToolError(f"{path} is not a file")
    try:
        with _open(path, "ro") as conn:
            integrity, revision = _inspect(conn)
    except sqlite3.DatabaseError as exc:
        integrity, revision = f"unreadable: {exc}", None
    return {"path": str(path), "bytes": path.stat().st_size, "integrity": integrity, "revision": revision}


def _source(settings: Settings) -> Path:
    source = sqlite_path(settings.url)
    if source is None:
        raise ToolError("backup works on a SQLite DATABASE_URL only (use pg_dump for PostgreSQL)", 2)
    if not source.is_file():
        raise ToolError(f"no database at {source}")
    return source


def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    source = _source(settings)
    if dest.resolve() == source.resolve():
        raise ToolError("DEST is the live database itself", 2)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # The backup API copies a consistent snapshot while the service keeps writing (WAL).
        with _open(source, "rw", settings.sqlite_busy_timeout_ms) as src:
            target = sqlite3.connect(partial)
            try:
                src.backup(target)
                # A single self-contained file: no -wal beside it to forget when copying it away.
                target.execute("PRAGMA journal_mode = DELETE")
                integrity, revision = _inspect(target)
            finally:
                target.close()
        if integrity != "ok":
            raise ToolError(f"backup failed its integrity check: {integrity}")
        os.replace(partial, dest)
    except sqlite3.Error as exc:
        raise ToolError(f"backup of {source} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return {"path": str(dest), "bytes": dest.stat().st_size, "integrity": "ok", "revision": revision}


def revision(settings: Settings) -> dict[str, Any]:
    if settings.is_sqlite:
        _source(settings)  # asking must not create an empty database
    try:
        with one_connection(settings) as conn:
            current = current_revision(conn)
    except SQLAlchemyError as exc:
        raise ToolError(classify_database_error(exc).message) from None
    # Ahead: a newer release migrated this database (and this release may still serve it).
    return {
        "revision": current,
        "head": head_revision(),
        "ahead": current is not None and current not in known_revisions(),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.dbtool", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backup", help="consistent online backup, then integrity_check").add_argument("dest")
    sub.add_parser("check", help="integrity_check and revision of a SQLite file").add_argument("path")
    sub.add_parser("revision", help="schema revision of the configured database")
    sub.add_parser("copy-check", help="is the configured database empty?")
    copy = sub.add_parser("copy", help="copy a SQLite file into the empty configured database, verified")
    copy.add_argument("source")
    copy.add_argument("--deadline", type=float, default=0, help="roll back beyond this many seconds")
    sub.add_parser("copy-clear", help="empty the app's tables of the configured database")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            result = check(Path(args.path).absolute())
        else:
            settings = load_settings(env_file=Path(".env"))
            if args.command == "backup":
                result = backup(settings, Path(args.dest).absolute())
            elif args.command == "copy-check":
                result = copydb.check(settings)
                if not result["empty"]:
                    print(json.dumps(result))
                    return 3
            elif args.command == "copy":
                result = copydb.copy(settings, Path(args.source).absolute(), args.deadline)
            elif args.command == "copy-clear":
                result = copydb.clear(settings)
            else:
                result = revision(settings)
    except SettingsError as exc:
        print(f"dbtool: configuration error: {exc}", file=sys.stderr)
        return 2
    except copydb.CopyRefused as exc:
        print(f"dbtool: {args.command}: refused, nothing changed: {exc}", file=sys.stderr)
        return 3
    except (ToolError, OSError, copydb.CopyFailed) as exc:
        print(f"dbtool: {args.command}: {exc}", file=sys.stderr)
        return getattr(exc, "status", 1)
    except SQLAlchemyError as exc:
        print(f"dbtool: {args.command}: {classify_database_error(exc).message}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    if result.get("integrity", "ok") != "ok":
        print(f"dbtool: {args.command}: integrity check failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
