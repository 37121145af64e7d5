"""One change at a time per host: deploy, rollback, restore and backup take the same lock.

The lock is an flock(2) on releases/.lock held by the process doing the work, so the kernel frees it
the moment that process is gone (killed, crashed, host rebooted): such a lock is taken over at once,
with a message naming the run that left it. releases/lock.json names the holder for messages and
carries a lease: a holder that is still alive but has made no progress for `lease` seconds (hung on
a stuck engine call) is killed and the lock taken over. A live holder within its lease is waited for
up to `wait` seconds, then refused with a message saying who holds it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import fsutil


class LockBusy(RuntimeError):
    """Another live run holds the lock."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _is_ours(pid: int) -> bool:
    """Whether pid is a webappctl process (a pid may have been reused by anything else)."""
    try:
        return b"webappctl" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def describe(record: dict[str, Any]) -> str:
    unit = f", unit {record['unit']}" if record.get("unit") else ""
    return (
        f"{record.get('action', '?')} by {record.get('owner', '?')} (pid {record.get('pid', '?')}{unit}), "
        f"started {record.get('started', '?')}"
    )


class Lock:
    def __init__(self, releases: Path, action: str, owner: str, lease: int) -> None:
        self.path = releases / ".lock"
        self.record_path = releases / "lock.json"
        self.action, self.owner, self.lease = action, owner, lease
        self.fd: int | None = None
        self.notes: list[str] = []

    def holder(self) -> dict[str, Any] | None:
        return fsutil.read_json(self.record_path)

    def acquire(self, wait: float) -> None:
        self.fd = os.open(str(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        announced = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            record = self.holder() or {}
            if self._lease_expired(record):
                continue
            if time.monotonic() >= deadline:
                os.close(self.fd)
                self.fd = None
                raise LockBusy(
                    f"another run holds the lock {self.path}: {describe(record)}, last progress "
                    f"{record.get('progress', '?')}. Nothing was changed. Wait for it to finish and run "
                    "again "
                    f"(a lock whose process is gone, or that made no progress for {self.lease}s, is taken "
                    "over "
                    "by the next run)."
                )
            if not announced:
                print(f"webappctl: waiting for the lock: {describe(record)}", file=sys.stderr, flush=True)
                announced = True
            time.sleep(0.3)
        previous = self.holder()
        if previous and previous.get("pid") != os.getpid():
            self.notes.append(
                f"took over the lock left by {describe(previous)}: its process is gone"
                if not previous.get("expired")
                else f"took over the lock from {describe(previous)}: it made no progress for {self.lease}s "
                "and was stopped"
            )
        self._write(fresh=True, started=_now())

    def _lease_expired(self, record: dict[str, Any]) -> bool:
        """A holder alive but silent past its lease is stopped; True when it was."""
        pid, beat = record.get("pid"), record.get("progress_epoch")
        if not isinstance(pid, int) or not isinstance(beat, (int, float)) or pid == os.getpid():
            return False
        if time.time() - beat < self.lease or not _alive(pid) or not _is_ours(pid):
            return False
        print(f"webappctl: stopping {describe(record)}: no progress for {self.lease}s", file=sys.stderr)
        record["expired"] = True
        fsutil.write_json(self.record_path, record, 0o600)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.1)
        return True

    def _write(self, fresh: bool = False, **changes: Any) -> None:
        record: dict[str, Any] = {} if fresh else dict(self.holder() or {})
        record.update(
            pid=os.getpid(),
            action=self.action,
            owner=self.owner,
            unit=os.environ.get("WEBAPPCTL_UNIT", ""),
            progress=_now(),
            progress_epoch=time.time(),
            **changes,
        )
        fsutil.write_json(self.record_path, record, 0o600)

    def progress(self, step: str) -> None:
        """Renew the lease: the holder is alive and moving."""
        if self.fd is not None:
            self._write(step=step)

    def release(self) -> None:
        if self.fd is None:
            return
        self.record_path.unlink(missing_ok=True)
        fsutil.fsync_dir(self.record_path.parent)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
