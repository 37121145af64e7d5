"""Throughput through a load balancer with one app host and with two, side by side in one run.

    python bench/fleet_bench.py [--duration SECONDS] [--rounds N] [--cpus CPUS] [--image IMAGE]

A PostgreSQL server (scripts/build-postgres-image.sh, standing in for RDS), two app containers on it
(each limited to --cpus, standing in for one instance's CPU), and two Caddy load balancers (the
project's proxy image, standing in for the ALB): one sends to the first app only, the other round-robins
over both. wrk (64 connections) reads one item and, separately, creates items through each load
balancer, the two alternating for --rounds rounds so that noise from elsewhere on the machine hits both
alike; the ratio is two hosts' requests per second over one host's. On a machine with fewer cores than
the apps, the load generator and the database need, the ratio stays well below 2: the figure is what
this machine can show, not what separate instances would. Any error (a failed connection, or an answer
other than 2xx) fails the run (exit 1); the items in the database are counted at the end. Traffic goes
to 127.0.0.1 only. Containers and the network are named BENCH_PREFIX (default webapp-bench-) and removed
at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_bench import LUA_POST, free_port, wrk  # noqa: E402

PREFIX = os.environ.get("BENCH_PREFIX", "webapp-bench-")
PG_IMAGE, PROXY_IMAGE = "webapp-postgres:15", "webapp-proxy:2.11.7"
PASSWORD = f"bench-{uuid.uuid4().hex}"
SECRET = f"bench-secret-{uuid.uuid4().hex}"


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=300).stdout


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (loopback)
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"fleet_bench: {url} did not answer 200 within {timeout}s")
        time.sleep(0.3)


def wait_healthy(container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    probe = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"
    while subprocess.run(
        ["docker", "exec", container, "python3", "-c", probe], capture_output=True
    ).returncode:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"fleet_bench: {container} not healthy:\n{docker('logs', '--tail', '20', container)}"
            )
        time.sleep(0.3)


@contextmanager
def fleet(image: str, cpus: str, workdir: Path) -> Iterator[tuple[str, str, str]]:
    """The database, two apps and the two load balancers; yields (one-host URL, two-host URL, app 1)."""
    net, pg, apps, lbs = f"{PREFIX}net", f"{PREFIX}pg", [f"{PREFIX}app1", f"{PREFIX}app2"], []
    url = f"postgresql+psycopg://webapp:{PASSWORD}@{pg}:5432/webapp"
    secret = workdir / "pg-password"
    secret.write_text(PASSWORD)
    secret.chmod(0o644)
    docker("network", "create", net)
    try:
        docker("run", "-d", "--name", pg, "--network", net, "-e", "POSTGRES_USER=webapp",
               "-e", "POSTGRES_DB=webapp", "-e", "POSTGRES_PASSWORD_FILE=/run/pg-password",
               "-v", f"{secret}:/run/pg-password:ro", PG_IMAGE)  # fmt: skip
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "exec", pg, "pg_isready", "-q", "-h", "127.0.0.1"]).returncode:
            if time.monotonic() > deadline:
                raise SystemExit("fleet_bench: PostgreSQL did not start")
            time.sleep(0.3)
        for index, app in enumerate(apps):
            # The first migrates; the second serves the schema it finds (as on a fleet).
            docker("run", "-d", "--name", app, "--network", net, "--cpus", cpus, "-e", f"SECRET_KEY={SECRET}",
                   "-e", f"DATABASE_URL={url}", "-e", f"MIGRATE_ON_START={'true' if index == 0 else 'false'}",
                   "-e", "LOG_LEVEL=WARNING", image)  # fmt: skip
            wait_healthy(app)
        ports = []
        for name, upstreams in (("lb1", apps[:1]), ("lb2", apps)):
            caddyfile = workdir / f"{name}.Caddyfile"
            targets = " ".join(f"{app}:8000" for app in upstreams)
            caddyfile.write_text(
                "{\n\tadmin off\n\tauto_https off\n}\n"
                f":8080 {{\n\treverse_proxy {targets} {{\n\t\tlb_policy round_robin\n\t}}\n}}\n"
            )
            caddyfile.chmod(0o644)
            port = free_port()
            lbs.append(f"{PREFIX}{name}")
            docker("run", "-d", "--name", lbs[-1], "--network", net, "-p", f"127.0.0.1:{port}:8080",
                   "-v", f"{caddyfile}:/etc/caddy/Caddyfile:ro", PROXY_IMAGE)  # fmt: skip
            ports.append(port)
            wait_for(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", apps[0]
    finally:
        docker("rm", "-f", "-v", *lbs, *apps, pg, check=False)
        docker("network", "rm", net, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cpus", default="0.5", help="CPU limit of each app container (one instance's share)"
    )
    parser.add_argument(
        "--image",
        default=os.environ.get("IMAGE", "webapp:local"),
        help="the app image, built with WITH_POSTGRES=true",
    )
    args = parser.parse_args()
    binary = "wrk"  # Debian's package
    with tempfile.TemporaryDirectory() as tmp, fleet(args.image, args.cpus, Path(tmp)) as (one, two, app):
        name = f"bench-{uuid.uuid4().hex[:6]}"
        token = docker("exec", app, "python", "-m", "app.tokens", "issue", name).strip()
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{one}/api/items", data=b'{"name": "bench", "data": {"n": 1}}', method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
            item = json.loads(answer.read())["id"]
        post = LUA_POST + f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        totals: dict[tuple[str, str], list[float]] = {}
        errors = 0
        for _ in range(args.rounds):
            workloads = (("read one item", f"/api/items/{item}", ""), ("create", "/api/items", post))
            for workload, path, script in workloads:
                for hosts, base in (("1 host", one), ("2 hosts", two)):
                    stats = wrk(binary, base + path, args.duration, script)
                    totals.setdefault((workload, hosts), []).append(stats["rps"])
                    errors += int(stats["errors"])
        pg = f"{PREFIX}pg"
        rows = subprocess.run(
            ["docker", "exec", "-e", f"PGPASSWORD={PASSWORD}", pg, "psql", "-h", "127.0.0.1", "-U", "webapp",
             "-d", "webapp", "-qtAX", "-c", "SELECT count(*) FROM items"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    print(
        f"fleet_bench: {args.rounds} rounds of {args.duration}s, wrk 64 connections, app --cpus {args.cpus}"
    )
    print(f"{'workload':<16}{'1 host req/s':>14}{'2 hosts req/s':>15}{'ratio 2/1':>11}")
    for workload in ("read one item", "create"):
        single = sum(totals[(workload, "1 host")]) / args.rounds
        double = sum(totals[(workload, "2 hosts")]) / args.rounds
        print(f"{workload:<16}{single:>14.0f}{double:>15.0f}{double / single:>11.2f}")
    print(f"errors: {errors}; items in the database: {rows}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
