"""Group commit: a 201 is only ever answered after the commit that holds it. The server is killed
(SIGKILL, no chance to flush anything) under concurrent writes from several clients; after a
restart every acknowledged item is there. And one failing write in a batch fails alone."""

from __future__ import annotations

import asyncio
import fcntl
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import hostkit
from support.app_helpers import TEST_SECRET, issue_token

from app.ids import new_id
from app.migrate import upgrade
from app.store.sqlite import SqliteStore
from app.validation import ItemInput

REPO = Path(__file__).resolve().parents[3]
WRITERS = 12
ACKNOWLEDGED_BEFORE_KILL = 400


def _start(cwd: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "SECRET_KEY": TEST_SECRET,
        "WEB_CONCURRENCY": str(workers),
        "LOG_LEVEL": "WARNING",
    }
    # The container's own start (migrate, then uvicorn from the settings), in a process group of
    # its own so the kill reaches every worker at once.
    return subprocess.Popen(
        [sys.executable, "-m", "app.serve", "--host=127.0.0.1", f"--port={port}"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _wait_healthy(port: int) -> None:
    hostkit.wait_healthy(f"http://127.0.0.1:{port}", timeout=60, interval=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_every_acknowledged_write_survives_sigkill(make_settings, tmp_path: Path, workers: int) -> None:
    settings = make_settings()
    upgrade(settings)
    token = issue_token(settings)
    port = hostkit.free_port()
    server = _start(tmp_path, port, workers)
    acknowledged: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def writer(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"name": f"w{n}", "data": {"writer": n}})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            try:
                conn.request("POST", "/api/items", body, headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                return  # the server is gone
            if response.status == 201:
                with lock:
                    acknowledged.append(json.loads(payload)["id"])
                    if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                        enough.set()

    try:
        _wait_healthy(port)
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        assert enough.wait(120), f"only {len(acknowledged)} writes acknowledged"
        # The writers are still writing: batches are in flight when the whole server dies.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    restarted = _start(tmp_path, port, workers)
    try:
        _wait_healthy(port)
        missing = [i for i in acknowledged if _status(port, i) != 200]
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(timeout=30)
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"


def _status(port: int, item_id: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/api/items/{item_id}")
    return conn.getresponse().status


def test_one_failing_write_fails_alone_and_the_batch_commits(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    upgrade(settings)
    lock_path = tmp_path / "data" / "app.db-writer.lock"

    async def scenario() -> list[object]:
        store = SqliteStore(settings)
        taken = new_id()
        await store.create_item(taken, ItemInput("first", {}))
        # Hold the writer's lock file, as another worker would: the writes below queue up behind it
        # and go into one batch together, the duplicate id among them.
        with lock_path.open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            ids = [new_id(), taken, new_id(), new_id()]
            tasks = [
                asyncio.ensure_future(store.create_item(i, ItemInput(f"n{n}", {}))) for n, i in enumerate(ids)
            ]
            await asyncio.sleep(0)  # every write is queued
            fcntl.flock(held, fcntl.LOCK_UN)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
        return [ids, results]

    ids, results = asyncio.run(scenario())
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert [isinstance(r, str) for r in results] == [True, False, True, True]
    with sqlite3.connect(tmp_path / "data" / "app.db") as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM items")}
    assert {ids[0], ids[2], ids[3]} <= stored


def test_conflicting_write_is_a_409(client) -> None:
    # A duplicate id can only come from inside; the API still answers it as a conflict, not a 500.
    from app.errors import classify_database_error

    assert classify_database_error(sqlite3.IntegrityError("UNIQUE constraint failed")).status == 409


def test_locked_database_fails_a_batch_of_rows_at_once(make_settings, tmp_path: Path) -> None:
    # A database failure is no write's fault: the batch fails after one busy wait, not one per write.
    settings = make_settings(SQLITE_BUSY_TIMEOUT_MS="300")
    upgrade(settings)
    data = tmp_path / "data"

    async def scenario() -> list[object]:
        store = SqliteStore(settings)
        with (data / "app.db-writer.lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # the writes below queue up into one batch
            tasks = [
                asyncio.ensure_future(store.create_item(new_id(), ItemInput(f"n{n}", {}))) for n in range(4)
            ]
            await asyncio.sleep(0)
            fcntl.flock(held, fcntl.LOCK_UN)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
        return results

    holder = sqlite3.connect(data / "app.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        results = asyncio.run(scenario())
        elapsed = time.monotonic() - started
    finally:
        holder.close()
    assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
    assert elapsed < 1.0, f"{elapsed:.2f} s: the writes waited for the lock one by one"
