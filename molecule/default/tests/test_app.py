from __future__ import annotations

import json
import time

from conftest import CONTAINER, http, inspect, journal


def test_env_file_is_private_to_root(host):
    env = host.file("/app/.env")
    assert env.is_file
    assert env.user == "root" and env.group == "root"
    assert env.mode == 0o600


def test_data_directory_belongs_to_the_app_user(host):
    data = host.file("/app/data")
    assert data.uid == 10001 and data.mode == 0o750


def test_container_is_running_and_healthy(host):
    # The deploy's own gate asks /health directly; Docker's check first runs one interval (10 s) after the
    # start, so a release started moments ago is still "starting" here.
    deadline = time.monotonic() + 60
    state = inspect(host)["State"]
    while state["Running"] and state["Health"]["Status"] == "starting" and time.monotonic() < deadline:
        time.sleep(1)
        state = inspect(host)["State"]
    assert state["Running"], journal(host, "docker")
    assert state["Health"]["Status"] == "healthy", json.dumps(state["Health"]["Log"][-1:])


def test_container_restarts_unless_stopped(host):
    assert inspect(host)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_container_is_hardened(host):
    info = inspect(host)
    config, host_config = info["Config"], info["HostConfig"]
    assert config["User"].split(":")[0] == "10001"
    assert host_config["ReadonlyRootfs"] is True
    assert "/tmp" in host_config["Tmpfs"]  # noqa: S108 - the container's tmpfs
    assert "no-new-privileges" in host_config["SecurityOpt"]
    assert host_config["CapDrop"] == ["ALL"]


def test_container_mounts_the_data_directory(host):
    mounts = {m["Destination"]: m["Source"] for m in inspect(host)["Mounts"]}
    assert mounts == {"/app/data": "/app/data"}


def test_health_answers_through_the_published_port():
    status, body = http("GET", "/health")
    assert status == 200 and isinstance(body, dict)


def test_sqlite_database_is_on_the_data_volume(host):
    db = host.file("/app/data/app.db")
    assert db.is_file and db.uid == 10001


def test_release_is_recorded(host):
    current = json.loads(host.file("/app/releases/current.json").content_string)
    image_id = host.run(f"docker inspect -f '{{{{.Image}}}}' {CONTAINER}").stdout.strip()
    assert current["image_id"] == image_id
    assert current["image"]
