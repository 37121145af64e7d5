"""Moving the data from a SQLite file into an empty database (PostgreSQL), verified row by row.

    python -m app.dbtool copy-check              is the configured (target) database empty?
    python -m app.dbtool copy SOURCE [--deadline SECONDS]
    python -m app.dbtool copy-clear              empty the app's tables of the target again (an undo)

The copy runs in one transaction on the target: the schema is brought to this release's head, every
table of the app is copied in primary-key order, then row counts and a checksum of every row are
compared on both sides (through the same column types, so a JSON document or a timestamp compares
as the app reads it). Any difference, or the deadline passing, rolls the whole copy back: the target
is left as empty as it was found. Run by webappctl while the app is stopped and requests are held, so
the source is exactly what the app acknowledged and the deadline bounds the write pause."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, func, inspect, select, tuple_

from app.db import make_engine, one_connection
from app.migrate import alembic_config, current_revision, head_revision
from app.models import metadata
from app.settings import Settings

BATCH = 1000
# Tables of the app's own schema; any other table in the target means it holds something else.
APP_TABLES = {table.name for table in metadata.sorted_tables} | {"alembic_version"}


class CopyRefused(Exception):
    """The copy must not start (the target is not empty, the source is behind); nothing changed."""


class CopyFailed(Exception):
    """The copy did not verify, or would have paused writes too long; it was rolled back."""


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def row_digest(row: dict[str, Any]) -> str:
    encoded = json.dumps({k: _canonical(v) for k, v in row.items()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _rows(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    order = list(table.primary_key.columns)
    last: tuple[Any, ...] | None = None
    while True:
        query = select(table).order_by(*order).limit(BATCH)
        if last is not None:
            query = query.where(tuple_(*order) > tuple_(*last))
        batch = [dict(row._mapping) for row in conn.execute(query)]
        if not batch:
            return
        yield from batch
        last = tuple(batch[-1][c.name] for c in order)


def fingerprint(conn: Connection, table: Table) -> dict[str, str]:
    """Primary key (as text) -> digest of the row, for every row of the table."""
    keys = [c.name for c in table.primary_key.columns]
    return {"|".join(str(row[k]) for k in keys): row_digest(row) for row in _rows(conn, table)}


def _summary(prints: dict[str, str]) -> dict[str, Any]:
    whole = hashlib.sha256("".join(sorted(prints.values())).encode()).hexdigest()
    return {"rows": len(prints), "sha256": whole}


def contents(conn: Connection) -> dict[str, int]:
    """Tables found in the target's schema and their row counts (-1: not one of the app's tables)."""
    found: dict[str, int] = {}
    for name in inspect(conn).get_table_names():
        if name in APP_TABLES and name != "alembic_version":
            found[name] = int(
                conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one()
            )
        elif name != "alembic_version":
            found[name] = -1
    return found


def check(settings: Settings) -> dict[str, Any]:
    with one_connection(settings) as conn:
        found = contents(conn)
    holding = {name: rows for name, rows in found.items() if rows != 0}
    return {"empty": not holding, "holding": holding}


def _source_engine(path: Path) -> Engine:
    if not path.is_file():
        raise CopyRefused(f"no SQLite database at {path}")
    return create_engine(f"sqlite:///{path}")


class _Clock:
    """The write pause's bound: checked between batches; passing it rolls the copy back."""

    def __init__(self, limit: float) -> None:
        self.limit, self.started = limit, time.monotonic()

    def check(self) -> None:
        if self.limit and self.elapsed() > self.limit:
            raise CopyFailed(
                f"the copy took longer than {self.limit:.0f}s, the longest the writes may pause; rolled back"
            )

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _copy_table(sconn: Connection, tconn: Connection, table: Table, clock: _Clock) -> dict[str, Any]:
    batch: list[dict[str, Any]] = []
    for row in _rows(sconn, table):
        batch.append(row)
        if len(batch) >= BATCH:
            tconn.execute(table.insert(), batch)
            batch = []
            clock.check()
    if batch:
        tconn.execute(table.insert(), batch)
    clock.check()
    theirs, ours = fingerprint(sconn, table), fingerprint(tconn, table)
    if theirs != ours:
        differ = sum(1 for key in theirs.keys() | ours.keys() if theirs.get(key) != ours.get(key))
        raise CopyFailed(
            f"{table.name}: {differ} rows differ after the copy ({len(theirs)} in SQLite, {len(ours)} "
            "copied); rolled back"
        )
    clock.check()
    return _summary(ours)


def copy(settings: Settings, source: Path, deadline_seconds: float = 0) -> dict[str, Any]:
    clock = _Clock(deadline_seconds)
    src = _source_engine(source)
    target = make_engine(settings)
    try:
        with src.connect() as sconn, target.connect() as tconn:
            revision = current_revision(sconn)
            if revision != head_revision():
                raise CopyRefused(
                    f"the SQLite database is at schema revision {revision}, this release at "
                    f"{head_revision()}: deploy this release on SQLite first, then move"
                )
            holding = {name: rows for name, rows in contents(tconn).items() if rows != 0}
            if holding:
                raise CopyRefused(f"the target database is not empty: it holds {_describe(holding)}")
            tconn.rollback()
            with tconn.begin():
                _upgrade(settings, tconn)
                tables = {
                    table.name: _copy_table(sconn, tconn, table, clock) for table in metadata.sorted_tables
                }
    finally:
        src.dispose()
        target.dispose()
    return {"tables": tables, "revision": revision, "seconds": round(clock.elapsed(), 3)}


def _upgrade(settings: Settings, conn: Connection) -> None:
    """The schema, inside the copy's transaction (PostgreSQL's DDL is transactional)."""
    from alembic import command

    config = alembic_config(settings)
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def clear(settings: Settings) -> dict[str, Any]:
    """Empty the app's tables again (webappctl's undo of a copy whose release then failed its gate)."""
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            present = set(inspect(conn).get_table_names())
            names = [t.name for t in reversed(metadata.sorted_tables) if t.name in present]
            for name in names:
                conn.execute(metadata.tables[name].delete())
    finally:
        engine.dispose()
    return {"cleared": names}


def _describe(holding: dict[str, int]) -> str:
    return ", ".join(
        f"{name} ({rows} rows)" if rows > 0 else f"{name} (a table of something else)"
        for name, rows in holding.items()
    )
