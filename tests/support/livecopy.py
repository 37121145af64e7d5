"""A consistent copy of a live SQLite database in WAL mode without ever opening it (opening it from
the test would create files the app's user cannot write). Reading the main file and then its -wal is
not enough: a checkpoint between the two reads moves committed pages out of the WAL into a main file
already read, and the next write restarts the WAL, so the copy silently lacks those commits. The
main file is read again after the WAL: when it has not changed, no checkpoint ran in between and the
pair is one state of the database; otherwise the three reads are made again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Reader = Callable[[str], "bytes | None"]


def snapshot(read: Reader, path: str, dest: Path, attempts: int = 50) -> Path:
    """`read(name)` returns a file's bytes, or None when it does not exist (the -wal may not); `path`
    is the database's name for it. The copy is written to `dest` (and `dest`-wal); `dest`."""
    for _ in range(attempts):
        main = read(path)
        if main is None:
            raise FileNotFoundError(path)
        wal = read(f"{path}-wal")
        if read(path) == main:
            break
    else:
        raise RuntimeError(f"{path} changed under every one of {attempts} copies: a checkpoint never paused")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(main)
    wal_copy = dest.with_name(f"{dest.name}-wal")
    if wal is None:
        wal_copy.unlink(missing_ok=True)
    else:
        wal_copy.write_bytes(wal)
    return dest


def local_reader(name: str) -> bytes | None:
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        return None
