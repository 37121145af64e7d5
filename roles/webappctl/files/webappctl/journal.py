"""The transaction journal: one JSON file per transaction under releases/txn/, rewritten atomically
after every step, and releases/txn/active naming the transaction not yet finished. Whoever runs next
(the same program restarted by systemd, the boot unit, the next playbook) reads it and carries on
from the last completed step."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

from . import fsutil

TERMINAL = ("committed", "undone", "failed", "refused", "unchanged")
KEEP_FINISHED = 20


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class Txn:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def state(self) -> str:
        return str(self.data.get("state", "running"))

    @property
    def args(self) -> dict[str, Any]:
        return self.data.setdefault("args", {})

    @property
    def facts(self) -> dict[str, Any]:
        return self.data.setdefault("facts", {})

    def done(self, step: str) -> bool:
        return any(entry["step"] == step for entry in self.data.get("steps", []))

    def save(self) -> None:
        fsutil.write_json(self.path, self.data, 0o600)

    def mark(self, step: str, seconds: float | None = None, **facts: Any) -> None:
        """Record that `step` completed, with what the later steps (or an undo) need to know."""
        self.facts.update(facts)
        entry: dict[str, Any] = {"step": step, "at": now()}
        if seconds is not None:
            entry["seconds"] = round(seconds, 3)
        self.data.setdefault("steps", []).append(entry)
        self.save()

    def note(self, **facts: Any) -> None:
        self.facts.update(facts)
        self.save()

    def finish(self, state: str, message: str, **result: Any) -> None:
        self.data.update(state=state, message=message, finished=now(), result=result)
        self.save()


class Journal:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.active_file = directory / "active"

    def path(self, txn_id: str) -> Path:
        return self.dir / f"{txn_id}.json"

    def create(self, kind: str, args: dict[str, Any], owner: str, txn_id: str | None = None) -> Txn:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        txn_id = txn_id or new_id()
        txn = Txn(
            self.path(txn_id),
            {"id": txn_id, "kind": kind, "args": args, "owner": owner, "created": now(), "state": "running"},
        )
        txn.save()
        fsutil.write_atomic(self.active_file, txn_id.encode(), 0o600)
        return txn

    def load(self, txn_id: str) -> Txn | None:
        data = fsutil.read_json(self.path(txn_id))
        return Txn(self.path(txn_id), data) if isinstance(data, dict) else None

    def active(self) -> Txn | None:
        try:
            txn_id = self.active_file.read_text().strip()
        except FileNotFoundError:
            return None
        txn = self.load(txn_id) if txn_id else None
        if txn is None or txn.state in TERMINAL:
            # Finished but not yet cleared when the process stopped: nothing left to do.
            self.clear()
            return None
        return txn

    def clear(self) -> None:
        if self.active_file.exists():
            self.active_file.unlink()
            fsutil.fsync_dir(self.dir)
        self._prune()

    def _prune(self) -> None:
        finished = sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in finished[KEEP_FINISHED:]:
            with contextlib.suppress(OSError):
                os.unlink(old)
