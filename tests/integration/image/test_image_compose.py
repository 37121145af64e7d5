"""docker-compose.yml as a user runs it: `cp .env.example .env`, `compose up -d`; the app starts on its
defaults, keeps its SQLite file on the named volume, runs hardened and comes back after `compose restart`.
Uses the Compose v2 plugin when present, else Debian's docker-compose 1.29 (scripts/ensure-docker.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

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

pytestmark = pytest.mark.docker
# Unique per run: two runs on one engine (or a stale one) never share a project's network or volume.
PROJECT = f"{NAME_PREFIX}-compose-{uuid.uuid4().hex[:8]}"


def compose_cmd() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("no Compose: scripts/ensure-docker.sh installs Debian's docker-compose")


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], int]]:
    work: Path = tmp_path_factory.mktemp("compose")
    shutil.copy(REPO / "docker-compose.yml", work / "docker-compose.yml")
    # The example as a user copies it, plus the one line they must add before writes work.
    env_file = (REPO / ".env.example").read_text() + f"SECRET_KEY={SECRET_KEY}\n"
    (work / ".env").write_text(env_file)
    port = free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "IMAGE": image, "APP_PORT": str(port)}
    base = [*compose_cmd(), "-p", PROJECT, "-f", str(work / "docker-compose.yml")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], cwd=work, env=env, capture_output=True, text=True, timeout=180)

    try:
        # Inside the try: a start that fails half-way still leaves containers and a network behind.
        up = run("up", "-d", "--no-build")
        assert up.returncode == 0, up.stderr
        yield run, port
    finally:
        run("down", "-v")


def container(stack) -> str:
    run, _ = stack
    return run("ps", "-q").stdout.split()[0]


def test_starts_on_defaults_from_the_example_env(stack):
    _, port = stack
    body = wait_healthy(port, container(stack))
    assert body["status"] == "ok" and body["database"] == "ok"


def test_runs_hardened_with_restart_unless_stopped(stack):
    info = json.loads(docker("inspect", container(stack)).stdout)[0]
    host = info["HostConfig"]
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert any(m["Destination"] == "/app/data" and m["Type"] == "volume" for m in info["Mounts"])


def test_data_survives_compose_restart(stack):
    run, port = stack
    wait_healthy(port, container(stack))
    status, created = post(port, issue_token(container(stack), "compose"), "compose")
    assert status == 201
    assert run("restart").returncode == 0
    wait_healthy(port, container(stack))
    assert get(f"http://127.0.0.1:{port}/api/items/{created['id']}")[1]["name"] == "compose"
    ls = docker("exec", container(stack), "ls", "/app/data")
    assert "app.db" in ls.stdout.split()
