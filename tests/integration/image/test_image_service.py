"""The image as issue 12 wants it: small, a graceful stop, workers from the CPUs it may use, and the
PostgreSQL driver as a build option whose image still serves PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import psycopg
import pytest
from image_helpers import (
    NAME_PREFIX,
    REPO,
    SECRET_KEY,
    docker,
    free_port,
    get,
    issue_token,
    post,
    wait_healthy,
)
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.docker, pytest.mark.slow]
MiB = 1024 * 1024


def _size(ref: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", ref).stdout)


def test_image_adds_at_most_60_mib_over_its_base(image: str) -> None:
    # The base scripts/build-image.sh builds on (BASE_IMAGE, as it reads it).
    added = _size(image) - _size(os.environ.get("BASE_IMAGE", "debian:bookworm-slim"))
    assert added <= 60 * MiB, f"the image adds {added / MiB:.1f} MiB over its base"


def _spawned_workers(container: str) -> int:
    """uvicorn's worker processes (multiprocessing children); 0 when it serves in one process."""
    # [m]: the pattern does not match the command line of the shell running it.
    command = "grep -l 'spawn_[m]ain' /proc/[0-9]*/cmdline || true"
    found = docker("exec", container, "sh", "-c", command).stdout
    return len(found.split())


def test_workers_follow_the_cpus_the_container_may_use(run_container) -> None:
    one, port = run_container("--cpus", "1")  # a CPU quota, as on a small instance
    wait_healthy(port, one)
    assert _spawned_workers(one) == 0  # one worker: uvicorn serves in its own process
    two, port = run_container("-e", "WEB_CONCURRENCY=2")
    wait_healthy(port, two)
    assert _spawned_workers(two) == 2


def test_docker_stop_is_a_graceful_shutdown(run_container) -> None:
    name, port = run_container("-e", "GRACEFUL_SHUTDOWN_TIMEOUT_S=5")
    wait_healthy(port, name)
    started = time.monotonic()
    docker("stop", "-t", "30", name)
    state = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)
    # Exit 0 from SIGTERM (not 137 from the SIGKILL that ends a stop timeout), in far less than 30 s.
    assert state["ExitCode"] == 0
    assert time.monotonic() - started < 15
    assert "Application shutdown complete" in docker("logs", name).stderr


def test_postgresql_url_without_the_driver_is_one_clear_line(image: str) -> None:
    url = "postgresql://u:hunter22@127.0.0.1:1/d"
    result = docker("run", "--rm", "-e", f"DATABASE_URL={url}", image, check=False)
    assert result.returncode == 2
    assert "WITH_POSTGRES=true" in result.stderr
    assert "hunter22" not in result.stdout + result.stderr


def test_postgres_build_serves_postgresql(postgres_image: str) -> None:
    made = subprocess.run(
        [str(REPO / "tests" / "support" / "ensure-postgres.sh")], capture_output=True, text=True, timeout=600
    )
    assert made.returncode == 0, made.stderr
    # A fresh database on the loopback test server (the container shares the host's network).
    server = make_url(made.stdout.strip().splitlines()[-1])
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    database = f"webapp_img_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    dsn = server.set(database=database).render_as_string(hide_password=False)
    port = free_port()
    name = f"{NAME_PREFIX}-pg-{port}"
    docker(
        "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--cap-drop", "ALL", "-e", f"SECRET_KEY={SECRET_KEY}", "-e", f"DATABASE_URL={dsn}",
        postgres_image, "--host=127.0.0.1", f"--port={port}", "--workers=1",
    )  # fmt: skip
    try:
        body = wait_healthy(port, name)
        assert body["revision"] == "0002"
        status, item = post(port, issue_token(name, f"pg-{port}"), "on-postgres", {"n": 1})
        assert status == 201
        assert get(f"http://127.0.0.1:{port}/api/items/{item['id']}") == (200, item)
    finally:
        docker("rm", "-f", name, check=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
