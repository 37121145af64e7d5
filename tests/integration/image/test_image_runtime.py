"""The built image, run for real: bare start, data on the volume, restarts, non-root, read-only root."""

from __future__ import annotations

import json

import pytest
from image_helpers import IMAGE, docker, get, issue_token, post, wait_healthy

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _create(port: int, name: str, container: str) -> dict:
    status, item = post(port, issue_token(container, f"t-{name}"), name, {"kept": True})
    assert status == 201
    return item


def test_starts_bare_and_is_healthy(run_container) -> None:
    name, port = run_container()
    body = wait_healthy(port, name)
    assert body["status"] == body["database"] == "ok"
    assert body["revision"] == "0002"
    assert body["version"] not in ("", "dev")  # APP_VERSION from the build argument


def test_sqlite_file_is_created_in_the_volume(run_container, volume: str) -> None:
    name, port = run_container(volume=volume)
    wait_healthy(port, name)
    listing = docker("run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "ls", IMAGE, "/data").stdout
    assert "app.db" in listing.split()


def test_data_survives_restart_and_replacement(run_container, volume: str) -> None:
    name, port = run_container(volume=volume)
    wait_healthy(port, name)
    item = _create(port, "survivor", name)
    docker("restart", name)
    # The published port is kept on restart.
    wait_healthy(port, name)
    assert get(f"http://127.0.0.1:{port}/api/items/{item['id']}") == (200, item)
    docker("rm", "-f", name)
    name, port = run_container(volume=volume)
    wait_healthy(port, name)
    assert get(f"http://127.0.0.1:{port}/api/items/{item['id']}") == (200, item)


def test_runs_as_non_root_with_read_only_root(run_container) -> None:
    name, port = run_container()
    wait_healthy(port, name)
    assert docker("exec", name, "id", "-u").stdout.strip() == "10001"
    assert docker("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", name).stdout.strip() == "true"
    denied = docker("exec", name, "touch", "/app/app/x", check=False)
    assert denied.returncode != 0
    pid1 = docker("exec", name, "cat", "/proc/1/status").stdout
    assert "Uid:\t10001" in pid1
    assert "CapEff:\t0000000000000000" in pid1


def test_docker_healthcheck_passes(run_container) -> None:
    name, port = run_container("--health-interval", "1s", "--health-start-period", "1s")
    wait_healthy(port, name)
    for _ in range(30):
        state = docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
        if state == "healthy":
            break
        docker("exec", name, "sleep", "0.5")
    assert state == "healthy"


def test_dbtool_backup_through_docker_exec(run_container) -> None:
    name, port = run_container()
    wait_healthy(port, name)
    _create(port, "backed-up", name)
    result = docker("exec", name, "python", "-m", "app.dbtool", "backup", "/app/data/backups/one.db")
    report = json.loads(result.stdout)
    assert (report["integrity"], report["revision"], report["path"]) == (
        "ok",
        "0002",
        "/app/data/backups/one.db",
    )
    check = json.loads(docker("exec", name, "python", "-m", "app.dbtool", "check", report["path"]).stdout)
    assert check["integrity"] == "ok"


def test_bad_setting_stops_the_start_with_one_clear_line(image: str) -> None:
    result = docker(
        "run",
        "--rm",
        "-e",
        "SQLITE_SYNCHRONOUS=sometimes",
        "-e",
        "SECRET_KEY=never-shown",
        image,
        check=False,
    )
    assert result.returncode == 2
    assert "SQLITE_SYNCHRONOUS" in result.stderr
    assert "never-shown" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
