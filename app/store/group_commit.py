"""One writer thread per process: concurrent writes share a transaction and its commit (fsync).

A request's write is queued with a future; the thread takes every write waiting (up to a batch),
runs them in one transaction, and only then settles their futures, so a 201 is never answered
before the commit that holds it. The batch's new rows go in as one multi-row INSERT, and a batch
of rows alone (every POST) is that one statement, committed as it ends: each statement lets go of
the GIL and must win it back from the busy event loop, so one statement per batch rather than
one per row (and no BEGIN and COMMIT around it) keeps the writer from queueing behind the loop.
When one write of a batch fails, the batch is rolled back and each write is retried in a
transaction of its own, so one bad write fails alone.

Across processes (uvicorn workers, the token command) SQLite's own lock keeps one writer at a
time; a flock on a file beside the database queues this process's writer behind another's
instead of leaving it to SQLite's sleeping busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("app.writer")

MAX_BATCH = 256
WriteFn = Callable[[sqlite3.Connection], Any]


@dataclass
class _Write:
    fn: WriteFn | None
    future: asyncio.Future[Any]
    row: tuple[Any, ...] | None = None  # a row for the batch's INSERT, instead of fn
    result: Any = None
    error: BaseException | None = None
    done: bool = field(default=False)


class _Stop:
    pass


class _WriteFailed(Exception):
    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


class FileLock:
    """An exclusive flock on a file beside the database; a no-op where the file can't be made."""

    def __init__(self, path: str | None) -> None:
        self.fd: int | None = None
        if path is not None:
            try:
                self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # a read-only directory: SQLite's lock alone still holds
                log.info("writer lock file %s unusable (%s); relying on SQLite's lock", path, exc.strerror)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.fd is None:
            yield
            return
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class GroupCommitWriter:
    def __init__(
        self, connect: Callable[[], sqlite3.Connection], lock_path: str | None, insert: tuple[str, str]
    ) -> None:
        """insert: the head of the batch INSERT ("INSERT INTO t (a, b) VALUES ") and one row's
        placeholders ("(?, ?)")."""
        self._insert_head, self._insert_row = insert
        self._queue: queue.SimpleQueue[_Write | _Stop] = queue.SimpleQueue()
        self._connect = connect
        self._lock = FileLock(lock_path)
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def submit(self, fn: WriteFn) -> Any:
        """Run fn(connection) inside a committed transaction; its result once the commit is durable."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put(_Write(fn, future))
        return await future

    async def insert(self, row: tuple[Any, ...]) -> None:
        """Insert one row, committed (with the other rows and writes of its batch) when this returns."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put(_Write(None, future, row))
        await future

    def stop(self) -> None:
        """Finish every write queued so far, then end the thread."""
        self._queue.put(_Stop())
        self._thread.join()
        self._lock.close()

    # --- the writer thread ---

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        stopping = False
        while not stopping:
            batch: list[_Write] = []
            item = self._queue.get()
            while True:
                if isinstance(item, _Stop):
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if not batch:
                continue
            try:
                if conn is None:
                    conn = self._connect()
                self._write(conn, batch)
            except BaseException as exc:  # every waiting request must get an answer
                for write in batch:
                    if not write.done:
                        write.error, write.done = exc, True
                if isinstance(exc, sqlite3.Error) and conn is not None:
                    # Start over on a fresh connection: a broken one would fail every later batch.
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
                    conn = None
            self._settle(batch)
        if conn is not None:
            conn.close()

    def _write(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        with self._lock.held():
            try:
                self._transaction(conn, batch)
            except _WriteFailed:
                # One write failed (a constraint, a value the database refuses): each one alone, so
                # the others still commit. Failures of BEGIN or COMMIT are the database's, not a
                # write's: those fail the whole batch at once (a retry would wait out busy_timeout
                # once per write).
                for write in batch:
                    write.result = None
                    try:
                        self._transaction(conn, [write])
                    except _WriteFailed as failed:
                        write.error = failed.error
                    write.done = True
                return
        for write in batch:
            write.done = True

    def _transaction(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        rows = [write.row for write in batch if write.row is not None]
        if len(rows) == len(batch):
            # Rows alone: the INSERT is a transaction of its own (SQLite commits a statement run
            # outside BEGIN when it ends, and takes the write lock with the same busy handling as
            # BEGIN IMMEDIATE). One statement instead of three: the writer lets go of the GIL, and
            # must win it back from the busy event loop, a third as often.
            try:
                self._insert(conn, rows)
            except sqlite3.OperationalError:
                raise  # locked, read-only, full, no table: the database's, as a failed BEGIN would be
            except sqlite3.Error as exc:  # a constraint, a value refused: one of the rows
                raise _WriteFailed(exc) from exc
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            try:
                if rows:
                    self._insert(conn, rows)
                for write in batch:
                    if write.fn is not None:
                        write.result = write.fn(conn)
            except sqlite3.Error as exc:
                raise _WriteFailed(exc) from exc
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def _insert(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        sql = self._insert_head + ", ".join([self._insert_row] * len(rows))
        conn.execute(sql, [value for row in rows for value in row])

    @staticmethod
    def _settle(batch: list[_Write]) -> None:
        loop = batch[0].future.get_loop()

        def settle() -> None:
            for write in batch:
                if write.future.done():  # the request was cancelled (client gone)
                    continue
                if write.error is not None:
                    write.future.set_exception(write.error)
                else:
                    write.future.set_result(write.result)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle)
