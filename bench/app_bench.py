"""HTTP load on the app with wrk (64 connections), as ratios to baselines measured in the same run.

    python bench/app_bench.py [--duration SECONDS] [--rounds N] [--workers 1,2] [--pin]

For each worker count, side by side: a bare Starlette endpoint served with the very same uvicorn
options and logging (the baseline for reads, writes and latency), and the app: GET one item, GET a
page of 50, POST (authenticated, synchronous=FULL). Both servers run at once and each workload
alternates with the baseline for --rounds rounds, so a burst of load from elsewhere on the machine
hits both sides of a ratio alike; a ratio is the app's requests over the baseline's in those
rounds. Writes are also compared with raw SQLite inserts with the app's pragmas, one commit each.
Each figure is printed next to its bar (issue 12), but only errors and lost writes fail the run
(exit 1): a 201 whose row is missing afterwards, or any request that failed. Traffic goes to
127.0.0.1 only; every run is bounded by --duration.
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.db import Database  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.repository.items import create_item  # noqa: E402
from app.serve import uvicorn_args  # noqa: E402
from app.settings import load_settings  # noqa: E402
from app.tokens import issue  # noqa: E402
from app.validation import ItemInput  # noqa: E402

CONCURRENCY = 64
SEED = 1000
BARS = {"read_one": 0.6, "read_page": 0.25, "write": 0.5, "write_vs_raw": 0.6, "p99_ms": 50.0}
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
wrk.headers["Authorization"] = "Bearer TOKEN"
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
def serve(target: str, cwd: Path, env: dict[str, str], probe: str, cpus: tuple[str, ...]) -> Iterator[str]:
    """uvicorn with the options the container's entrypoint gives it (app/serve.py), on loopback;
    `cpus` prefixes the command (taskset) when the server gets cores of its own."""
    port = free_port()
    settings = load_settings(environ=env, cwd=cwd)
    command = [*cpus, sys.executable, "-m", "uvicorn", *uvicorn_args(settings, target, "127.0.0.1", port)]
    log = (cwd / f"{target.split(':')[0]}.log").open("wb")
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + probe, timeout=1)  # noqa: S310 (http://127.0.0.1 only)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def wrk(
    binary: str, url: str, duration: int, script: str = "", cpus: tuple[str, ...] = ()
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script + LUA_DONE)
    try:
        out = subprocess.run(
            [*cpus, binary, "-t2", f"-c{CONCURRENCY}", f"-d{duration}s", "--timeout", "10s", "-s", lua.name,
             url],
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


def seed(cwd: Path, env: dict[str, str], count: int) -> tuple[str, str]:
    """A migrated database with `count` items; the id of one of them, and a write token."""
    settings = load_settings(environ=env, cwd=cwd)
    upgrade(settings)
    db = Database(settings)
    try:
        with db.write() as session:
            ids = [
                create_item(session, str(uuid.uuid4()), ItemInput(f"seed{i}", {"i": i}))["id"]
                for i in range(count)
            ]
        token = issue(db, settings, "bench", "write")
    finally:
        db.dispose()
    return ids[count // 2], token


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]


def placement(workers: int, pin: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """taskset prefixes for the servers and for wrk: with --pin, and a core left over by the
    workers, the servers get the first `workers` cores and wrk the rest, as a client on another
    machine would leave the server its cores; otherwise nothing is pinned."""
    cores = os.cpu_count() or 1
    if not pin or workers >= cores:
        return (), ()
    return ("taskset", "-c", f"0-{workers - 1}"), ("taskset", "-c", f"{workers}-{cores - 1}")


def paired(
    binary: str, bare_url: str, url: str, duration: int, rounds: int, script: str, client: tuple[str, ...]
) -> dict:
    """The workload and the baseline, alternating; totals over the rounds, median p99s."""
    runs = [
        (wrk(binary, bare_url, duration, cpus=client), wrk(binary, url, duration, script, cpus=client))
        for _ in range(rounds)
    ]

    def total(side: int) -> dict[str, float]:
        stats = [run[side] for run in runs]
        p99s = sorted(s["p99_us"] for s in stats)
        requests = sum(s["requests"] for s in stats)
        return {
            "requests": requests,
            "errors": sum(s["errors"] for s in stats),
            "rps": requests / (sum(s["duration_us"] for s in stats) / 1e6),
            "p99_us": p99s[len(p99s) // 2],
        }

    return {"bare": total(0), "app": total(1)}


def run_workers(
    binary: str, duration: int, rounds: int, workers: int, pin: bool
) -> dict[str, dict[str, float]]:
    server, client = placement(workers, pin)
    with tempfile.TemporaryDirectory(prefix="webapp-bench-") as tmp:
        cwd = Path(tmp)
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(REPO),
            # The production default: uvicorn's access log is on, for the baseline as for the app.
            "LOG_LEVEL": "INFO",
            "SECRET_KEY": "bench-secret-key-" + uuid.uuid4().hex,
            "WEB_CONCURRENCY": str(workers),
            "SQLITE_SYNCHRONOUS": "FULL",
        }
        one_id, token = seed(cwd, env, SEED)
        db_file = cwd / "data" / "app.db"
        post = LUA_POST.replace("TOKEN", token)
        results: dict[str, dict[str, float]] = {}
        with (
            serve("bench.bare_app:app", cwd, env, "/", server) as bare,
            serve("app.main:app", cwd, env, "/health", server) as url,
        ):
            bare += "/"
            for key, target, script in [
                ("read_one", f"{url}/api/items/{one_id}", ""),
                ("read_page", f"{url}/api/items?limit=50", ""),
                ("write", f"{url}/api/items", post),
            ]:
                before = count_rows(db_file)
                pair = paired(binary, bare, target, duration, rounds, script, client)
                results[key], results[f"bare_{key}"] = pair["app"], pair["bare"]
                if key == "write":
                    results[key]["stored"] = count_rows(db_file) - before
    return results


def report(workers: int, results: dict[str, dict[str, float]], raw_rate: float) -> list[str]:
    print(f"\n{workers} uvicorn worker(s), wrk -c{CONCURRENCY}; each app workload next to its own baseline")
    print(f"{'workload':30} {'req/s':>8} {'p99 ms':>7} {'errors':>6} {'x bare':>7} {'bar':>7}")
    labels = {"read_one": "GET /api/items/{id}", "read_page": "GET /api/items?limit=50",
              "write": "POST /api/items (FULL)"}  # fmt: skip
    failures = []
    for key, label in labels.items():
        for name, stats, bare in [
            ("  bare Starlette GET /", results[f"bare_{key}"], results[f"bare_{key}"]),
            (label, results[key], results[f"bare_{key}"]),
        ]:
            ratio = stats["rps"] / bare["rps"]
            bar = f">= {BARS[key]}" if stats is results[key] else ""
            p99 = stats["p99_us"] / 1000
            print(f"{name:30} {stats['rps']:8.0f} {p99:7.1f} {stats['errors']:6d} {ratio:7.2f} {bar:>7}")
            if stats["errors"]:
                failures.append(f"{workers} worker(s), {name.strip()}: {stats['errors']} failed requests")
    write = results["write"]
    print(f"{'POST vs raw SQLite inserts':30} {write['rps'] / raw_rate:>39.2f} {'>= 0.6':>7}")
    print(f"p99 bar: < {BARS['p99_ms']:.0f} ms for the three app workloads")
    answered = write["requests"] - write["errors"]
    print(f"writes answered 201: {answered}, rows stored meanwhile: {write['stored']}")
    if write["stored"] < answered:
        failures.append(f"{workers} worker(s): {answered} writes acknowledged, only {write['stored']} stored")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/workload pairs (default 3)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument(
        "--pin", action="store_true", help="servers and wrk on separate cores where the workers leave one"
    )
    args = parser.parse_args(argv)
    binary = ensure_wrk()
    counts = [int(n) for n in args.workers.split(",")]
    runs = {n: run_workers(binary, args.duration, args.rounds, n, args.pin) for n in counts}
    with tempfile.TemporaryDirectory(prefix="webapp-bench-raw-") as tmp:
        raw_rate = raw_sqlite_inserts(Path(tmp) / "raw.db", min(args.duration, 5))
    print(f"raw SQLite inserts (one commit each, synchronous=FULL, WAL): {raw_rate:.0f}/s")
    failures = [failure for n in counts for failure in report(n, runs[n], raw_rate)]
    summary = {
        n: {
            "read_one_vs_bare": round(r["read_one"]["rps"] / r["bare_read_one"]["rps"], 3),
            "read_page_vs_bare": round(r["read_page"]["rps"] / r["bare_read_page"]["rps"], 3),
            "write_vs_bare": round(r["write"]["rps"] / r["bare_write"]["rps"], 3),
            "write_vs_raw_sqlite": round(r["write"]["rps"] / raw_rate, 3),
            "p99_ms": {k: round(r[k]["p99_us"] / 1000, 1) for k in ("read_one", "read_page", "write")},
        }
        for n, r in runs.items()
    }
    print("BENCH " + json.dumps(summary))
    for failure in failures:
        print(f"bench: FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
