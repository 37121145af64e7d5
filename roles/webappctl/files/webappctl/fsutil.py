"""Durable file operations: every state file is replaced atomically and reaches the disk before the
step that depends on it runs, so a power cut or SIGKILL leaves either the old or the new version."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Write `data` to `path` through a temporary file, fsync'd, renamed, directory fsync'd."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, owner[0], owner[1])
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(str(tmp), str(path))
    fsync_dir(path.parent)


def write_json(path: Path, value: Any, mode: int = 0o644) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode(), mode)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except ValueError:
        # A file cut short by a crash mid-write cannot happen (writes are atomic); anything else is
        # a hand edit, which is treated as missing rather than crashing every later run.
        return default


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clone(src: Path, dest: Path) -> str:
    """Copy `src` to `dest` as a reflink clone when the file system can (XFS with reflink, btrfs:
    constant time, no extra space until either side changes), else as a plain copy. Returns
    "reflink" or "copy". `dest` is fsync'd either way."""
    dest.unlink(missing_ok=True)
    how = "reflink"
    proc = subprocess.run(
        ["cp", "--reflink=always", "--preserve=mode,ownership", "--", str(src), str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        how = "copy"
        dest.unlink(missing_ok=True)
        shutil.copy2(str(src), str(dest))
        st = src.stat()
        os.chown(str(dest), st.st_uid, st.st_gid)
    with dest.open("rb") as handle:
        os.fsync(handle.fileno())
    return how


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(str(path))
    elif path.exists() or path.is_symlink():
        path.unlink()
