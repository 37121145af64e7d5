"""What a client sees while a new image is deployed, side by side in one run, at 10 MB and at 1 GB of
data (`--sizes` to change), on the local engine with the real images (tests/integration/webappctl's host):

  the proxy holding requests, data on XFS (the data volume's default: the pre-swap copy is a reflink)
  the same swap with the proxy's hold turned off, data on ext4 (the pre-swap copy a full copy): what a
  client saw of the stop-first swap before the proxy, when the app published its port itself

For each: failed requests (must be 0 through the proxy), the longest a request took (how long the
proxy held it), how long the app was away (first to last failure, or the hold), and the swap's time.
Writers and readers run a bounded load the whole time. Every acknowledged write is checked to be in
the database afterwards. Needs root (loop-mounted file systems) and xfsprogs (installed if missing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / p) for p in ("tests", "tests/integration/webappctl", "roles/webappctl/files")]

from ctlhost import CtlHost  # noqa: E402
from support import testimages as images  # noqa: E402
from support.load import Load  # noqa: E402

ROW = "x" * 8000


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def mount(fs: str, size_gb: int, where: Path) -> Path:
    """A loop-mounted file system of its own: XFS with reflink, or ext4."""
    if fs == "xfs" and shutil.which("mkfs.xfs") is None:
        sh("apt-get", "install", "-y", "-qq", "xfsprogs")
    image = where.with_suffix(".img")
    image.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["truncate", "-s", f"{size_gb}G", str(image)], check=True)
    sh(f"mkfs.{fs}", "-q", str(image))
    where.mkdir(parents=True)
    sh("mount", "-o", "loop", str(image), str(where))
    return image


def fill(host: CtlHost, megabytes: int) -> None:
    """Grow the database to about `megabytes` with items, the app stopped (rows written directly)."""
    subprocess.run(["docker", "stop", host.app], check=True, capture_output=True)
    db = host.root / "data" / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        rows = megabytes * 1024 * 1024 // (len(ROW) + 200)
        stamp = "2026-01-01 00:00:00.000000"
        conn.executemany(
            "INSERT INTO items (id, name, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            ((f"fill-{n:08d}", f"fill-{n}", json.dumps({"pad": ROW}), stamp, stamp) for n in range(rows)),
        )
    sh("chown", "10001:10001", str(db))
    subprocess.run(["docker", "start", host.app], check=True, capture_output=True)
    host.wait_healthy(timeout=120)


def measure(host: CtlHost, target: str, url: str) -> dict[str, float]:
    with Load(url, writers=2, readers=2, limit=600) as load:
        time.sleep(2)
        began = time.monotonic()
        outcome = host.deploy(target)
        took = time.monotonic() - began
        time.sleep(2)
    if outcome.state != "committed":
        sys.exit(f"the deploy of {target} did not commit: {outcome.message}")
    host.wait_healthy()
    missing = set(load.acknowledged) - set(host.db_items(host.base))
    if missing:
        sys.exit(f"{len(missing)} acknowledged writes lost")
    away = (load.failures[-1].at - load.failures[0].at) if load.failures else 0.0
    return {
        "failed": len(load.failures),
        "requests": load.requests_sent,
        "slowest": load.slowest,
        "away": away,
        "hold": float(outcome.result["result"].get("hold_seconds") or 0),
        "clone": float((outcome.result["result"].get("clone") or {}).get("seconds") or 0),
        "swap": took,
    }


def scenario(fs: str, megabytes: int, hold: bool, work: Path) -> dict[str, float]:
    data = work / f"{fs}-{megabytes}" / "root" / "data"
    image = mount(fs, max(4, megabytes * 3 // 1024 + 2), data)
    host = CtlHost(data.parent.parent, f"bench{fs}", hold_seconds=30 if hold else 0)
    try:
        host.up()
        host.deploy(images.V1)
        fill(host, megabytes)
        return measure(host, images.V2, host.url)
    finally:
        host.down()
        subprocess.run(["umount", str(data)], check=False)
        image.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1024", help="database sizes in MB, comma-separated")
    args = parser.parse_args()
    images.ensure(images.V1, images.V2)
    images.ensure_proxy()
    rows = []
    with tempfile.TemporaryDirectory(prefix="swap-bench-") as tmp:
        for megabytes in (int(s) for s in args.sizes.split(",")):
            new = scenario("xfs", megabytes, True, Path(tmp))
            old = scenario("ext4", megabytes, False, Path(tmp))
            rows.append((megabytes, new, old))
    heads = ("data", "how", "failed", "slowest", "app away", "copy", "swap")
    print("{:>7} | {:<40} | {:>6} | {:>7} | {:>8} | {:>6} | {:>6}".format(*heads))
    for megabytes, new, old in rows:
        for how, r in (("proxy holds, XFS reflink clone", new), ("no hold (stop-first), ext4 copy", old)):
            away = r["hold"] if how.startswith("proxy") else r["away"]
            cells = (f"{megabytes}MB", how, r["failed"], r["slowest"], away, r["clone"], r["swap"])
            print("{:>7} | {:<40} | {:>6.0f} | {:>6.2f}s | {:>7.2f}s | {:>5.2f}s | {:>5.1f}s".format(*cells))
    if len(rows) > 1:
        small, large = rows[0][1], rows[-1][1]
        ratio = large["hold"] / small["hold"]
        print(f"hold at {rows[-1][0]} MB / hold at {rows[0][0]} MB, through the proxy: {ratio:.2f}x")
    failed = [r for _, new, _ in rows for r in (new,) if r["failed"]]
    if failed:
        print("bench: requests failed through the proxy", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
