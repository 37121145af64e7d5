"""Data written through the API survives a container restart and a reboot of the whole host.
Runs last (file order) because it restarts things."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from conftest import CONTAINER, PROJECT, http, platform, wait_healthy


@pytest.fixture(scope="module")
def item_name(host):
    name = f"persist-{uuid.uuid4().hex[:8]}"
    # Writes need a token, issued in the app container as playbooks/token.yml does.
    issued = host.run(f"docker exec {CONTAINER} python -m app.tokens issue {name}")
    assert issued.rc == 0, issued.stderr
    status, _ = http(
        "POST", "/api/items", {"name": name, "data": {"kept": True}}, token=issued.stdout.strip()
    )
    assert status == 201
    return name


def names() -> list[str]:
    status, body = http("GET", "/api/items")
    assert status == 200
    return [item["name"] for item in body["items"]]


def test_item_is_listed(item_name):
    assert item_name in names()


def test_item_survives_a_container_restart(host, item_name):
    assert host.run(f"docker restart {CONTAINER}").rc == 0
    wait_healthy()
    assert item_name in names()


def test_item_survives_a_host_restart(item_name):
    name, port = platform()["name"], platform()["ssh_port"]
    subprocess.run(["docker", "restart", name], check=True, capture_output=True)
    subprocess.run([str(PROJECT / "scripts" / "host-container.sh"), "wait", name, str(port)], check=True)
    # Docker must come back at boot and bring the container back by its restart policy.
    wait_healthy()
    assert item_name in names()
