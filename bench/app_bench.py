"""HTTP load on the app with wrk (concurrency 64), as ratios to baselines measured in the same run.

    python bench/app_bench.py [--duration SECONDS]

Baselines: a bare Starlette endpoint under the same uvicorn and logging (for reads and latency), and
raw SQLite inserts with the app's pragmas, one commit each (for writes). Fails (exit 1) if any
request errors under concurrent writes, or if a 201 answered write is missing from the database.
Traffic goes to 127.0.0.1 only; every run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = 64
LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n', summary.requests, summary.duration, e.connect,
    e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""
LUA_POST = """
wrk.method = "POST"
wrk.body = '{"name": "bench", "data": {"n": 1, "tags": ["a", "b"], "nested": {"ok": true}}}'
wrk.headers["Content-Type"] = "application/json"
"""


def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        print("bench: installing wrk", file=sys.stderr)
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, stdout=subprocess.DEVNULL
        )
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(target: str, cwd: Path, env: dict[str, str]):
    """uvicorn as the entrypoint runs it (logging config included), on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
               "--no-proxy-headers", "--log-config", str(REPO / "app" / "logging.json")]  # fmt: skip
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + ("/health" if "app.main" in target else "/"), timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def wrk(binary: str, url: str, duration: int, script: str = "") -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script + LUA_DONE)
    try:
        out = subprocess.run(
            [binary, "-t2", f"-c{CONCURRENCY}", f"-d{duration}s", "--timeout", "10s", "-s", lua.name, url],
            capture_output=True, text=True, check=True, timeout=duration + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(lua.name)
    stats = json.loads(next(line for line in out.splitlines() if line.startswith("WRKJSON"))[8:])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    stats["errors"] = sum(stats[k] for k in ("connect", "read", "write", "status", "timeout"))
    return stats


def raw_sqlite_inserts(path: Path, seconds: float) -> float:
    """Inserts per second straight into SQLite with the app's pragmas and one commit per row."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE items (id VARCHAR(36) PRIMARY KEY, name VARCHAR(200), data TEXT,"
                 " created_at DATETIME, updated_at DATETIME)")  # fmt: skip
    conn.execute("CREATE INDEX ix ON items (created_at, id)")
    data = json.dumps({"n": 1, "tags": ["a", "b"], "nested": {"ok": True}})
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?)", (str(uuid.uuid4()), "bench", data, now, now))
        conn.execute("COMMIT")
        count += 1
    elapsed = time.perf_counter() - start
    conn.close()
    return count / elapsed


def seed(cwd: Path, env: dict[str, str], count: int) -> str:
    sys.path.insert(0, str(REPO))
    from app.db import Database
    from app.migrate import upgrade
    from app.repository.items import create_item
    from app.settings import load_settings
    from app.validation import ItemInput

    settings = load_settings(environ=env, cwd=cwd)
    upgrade(settings)
    db = Database(settings)
    with db.write() as session:
        ids = [create_item(session, ItemInput(name=f"seed{i}", data={"i": i}))["id"] for i in range(count)]
    db.dispose()
    return ids[count // 2]


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    args = parser.parse_args(argv)
    binary = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="webapp-bench-") as tmp:
        cwd = Path(tmp)
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"}
        one_id = seed(cwd, env, 1000)
        db_file = cwd / "data" / "app.db"
        with serve("bare_app:app", REPO / "bench", env) as bare_url:
            bare = wrk(binary, bare_url + "/", args.duration)
        with serve("app.main:app", cwd, env) as url:
            read_one = wrk(binary, f"{url}/api/items/{one_id}", args.duration)
            read_page = wrk(binary, f"{url}/api/items?limit=50", args.duration)
            before = count_rows(db_file)
            write = wrk(binary, f"{url}/api/items", args.duration, LUA_POST)
        stored = count_rows(db_file) - before
        raw_rate = raw_sqlite_inserts(cwd / "raw.db", min(args.duration, 5))

    rows = [("bare starlette GET /", bare), ("app GET /api/items/{id}", read_one),
            ("app GET /api/items?limit=50", read_page), ("app POST /api/items", write)]  # fmt: skip
    print(f"wrk -c{CONCURRENCY} -d{args.duration}s on 127.0.0.1, one uvicorn worker")
    print(f"{'workload':32} {'req/s':>9} {'p99 ms':>8} {'errors':>7} {'req/s ratio':>12} {'p99 ratio':>10}")
    for label, stats in rows:
        ratio, p99_ratio = stats["rps"] / bare["rps"], stats["p99_us"] / max(bare["p99_us"], 1)
        print(f"{label:32} {stats['rps']:9.0f} {stats['p99_us'] / 1000:8.1f} {stats['errors']:7d}", end="")
        print(f" {ratio:12.2f} {p99_ratio:10.2f}")
    print(f"raw SQLite inserts (one commit each, synchronous=FULL): {raw_rate:.0f}/s")
    print(f"app writes / raw SQLite inserts: {write['rps'] / raw_rate:.2f}")
    print(f"writes answered: {write['requests']}, rows stored during the run: {stored}")
    summary = {
        "read_one_vs_bare": round(read_one["rps"] / bare["rps"], 3),
        "read_page_vs_bare": round(read_page["rps"] / bare["rps"], 3),
        "write_vs_bare": round(write["rps"] / bare["rps"], 3),
        "write_vs_raw_sqlite": round(write["rps"] / raw_rate, 3),
        "p99_read_one_vs_bare": round(read_one["p99_us"] / max(bare["p99_us"], 1), 2),
        "p99_write_vs_bare": round(write["p99_us"] / max(bare["p99_us"], 1), 2),
        "write_errors": write["errors"],
    }
    print("BENCH " + json.dumps(summary))
    failures = []
    if write["errors"] or read_one["errors"] or read_page["errors"]:
        failures.append(
            f"errors under load: writes {write['errors']}, reads {read_one['errors'] + read_page['errors']}"
        )
    if stored < write["requests"] - write["errors"]:
        failures.append(f"{write['requests']} writes answered but only {stored} rows stored")
    for failure in failures:
        print(f"bench: FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
