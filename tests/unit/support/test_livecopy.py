"""support.livecopy under a writer that checkpoints all the time: every row committed before a copy
begins is in the copy. The naive copy (main file, then -wal) is shown to lose rows under the same
writer, so the check can tell the two apart."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import livecopy


@contextmanager
def busy_writer(db: Path) -> Iterator[Callable[[], int]]:
    """A thread inserting rows one commit at a time, checkpointing every few pages; yields a function
    returning how many rows are committed."""
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 16")
    conn.execute("CREATE TABLE items (n INTEGER PRIMARY KEY, pad BLOB)")
    committed = [0]
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            conn.execute("INSERT INTO items (n, pad) VALUES (?, randomblob(3000))", (committed[0] + 1,))
            committed[0] += 1
            time.sleep(0.001)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield lambda: committed[0]
    finally:
        stop.set()
        thread.join()
        conn.close()


def rows_in(copy: Path) -> int:
    """Rows in a copy; a copy SQLite cannot read (a page torn by a checkpoint) holds none."""
    try:
        with sqlite3.connect(copy) as conn:
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]
    except sqlite3.DatabaseError:
        return -1


def naive(read: livecopy.Reader, path: str, dest: Path) -> Path:
    dest.write_bytes(read(path) or b"")
    dest.with_name(f"{dest.name}-wal").write_bytes(read(f"{path}-wal") or b"")
    return dest


def test_every_committed_row_is_in_the_copy(tmp_path: Path):
    db = tmp_path / "live.db"
    short = []
    with busy_writer(db) as committed:
        while committed() < 50:
            time.sleep(0.001)
        for i in range(200):
            before = committed()
            copy = livecopy.snapshot(livecopy.local_reader, str(db), tmp_path / f"copy{i}" / "app.db")
            if rows_in(copy) < before:
                short.append((i, before, rows_in(copy)))
    assert not short, f"copies that lacked committed rows (round, committed, copied): {short[:5]}"


def checkpoint_between_reads(tmp_path: Path) -> tuple[livecopy.Reader, str, int]:
    """A database with rows in its WAL and a reader that, right after the first read of the main
    file, lets a writer checkpoint and restart the WAL: the moment the naive copy cannot survive."""
    db = tmp_path / "live.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE items (n INTEGER PRIMARY KEY, pad BLOB)")
    for n in range(20):
        conn.execute("INSERT INTO items (n, pad) VALUES (?, randomblob(3000))", (n,))
    reads = [0]

    def read(name: str) -> bytes | None:
        data = livecopy.local_reader(name)
        if name == str(db):
            reads[0] += 1
            if reads[0] == 1:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("INSERT INTO items (n, pad) VALUES (100, randomblob(10))")
        return data

    return read, str(db), 20


def test_a_checkpoint_between_the_reads_is_seen_and_the_copy_made_again(tmp_path: Path):
    read, path, committed = checkpoint_between_reads(tmp_path)
    assert rows_in(livecopy.snapshot(read, path, tmp_path / "copy" / "app.db")) >= committed


def test_the_naive_copy_loses_the_checkpointed_rows(tmp_path: Path):
    read, path, committed = checkpoint_between_reads(tmp_path)
    (tmp_path / "copy").mkdir()
    assert rows_in(naive(read, path, tmp_path / "copy" / "app.db")) < committed


def test_a_missing_database_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        livecopy.snapshot(livecopy.local_reader, str(tmp_path / "none.db"), tmp_path / "copy.db")
