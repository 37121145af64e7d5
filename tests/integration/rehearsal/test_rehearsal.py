"""The README's first command, end to end: scripts/rehearsal.sh (what `make demo` runs) provisions
against moto, configures and deploys on a local systemd container, converges on a re-run, and tears
down. Same path as `make demo`, on its own names and ports so it never meets a running demo."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import hostkit
from support.aws import aws_client

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ENV = {
    "REHEARSAL_NAME": "webapp-rehearsal-test",
    "REHEARSAL_SSH_PORT": "2230",
    "REHEARSAL_APP_PORT": "18090",
    "REHEARSAL_MOTO_PORT": "15090",
}
APP = f"http://127.0.0.1:{ENV['REHEARSAL_APP_PORT']}"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def rehearsal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts/rehearsal.sh"), *args],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def recap(output: str) -> dict[str, tuple[int, int, int]]:
    return {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in RECAP.finditer(output)}


def ec2():  # boto3 clients have no importable type
    """The rehearsal's emulator (any credentials reach moto's one default account)."""
    return aws_client("ec2", f"http://127.0.0.1:{ENV['REHEARSAL_MOTO_PORT']}")


@pytest.fixture(scope="module")
def first_run() -> Iterator[subprocess.CompletedProcess[str]]:
    hostkit.ensure_image("webapp:local")
    run = rehearsal("up")
    try:
        yield run
    finally:
        rehearsal("down")


def test_first_run_provisions_configures_and_deploys(first_run):
    assert first_run.returncode == 0, first_run.stdout[-4000:] + first_run.stderr[-2000:]
    hosts = recap(first_run.stdout)
    assert set(hosts) == {"localhost", "webapp-local"}, hosts
    assert all(unreachable == 0 and failed == 0 for _, unreachable, failed in hosts.values())
    assert f"The app is running at {APP}" in first_run.stdout


def test_app_answers_through_the_published_port(first_run):
    health = httpx.get(f"{APP}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # Writes need a token: issued on the instance in the app container, as playbooks/token.yml does.
    headers = hostkit.authorize(APP, ENV["REHEARSAL_NAME"])
    created = httpx.post(
        f"{APP}/api/items", json={"name": "rehearsed", "data": {"n": 1}}, headers=headers, timeout=10
    )
    assert created.status_code == 201
    assert httpx.get(f"{APP}/api/items/{created.json()['id']}", timeout=10).json()["name"] == "rehearsed"


def test_emulated_instance_is_tagged_running_with_its_elastic_ip(first_run):
    client = ec2()
    reservations = client.describe_instances(
        Filters=[
            {"Name": "tag:Environment", "Values": ["local"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 1
    addresses = client.describe_addresses()["Addresses"]
    assert [a.get("InstanceId") for a in addresses] == [instances[0]["InstanceId"]]


def test_second_run_changes_nothing(first_run):
    again = rehearsal("up")
    assert again.returncode == 0, again.stdout[-4000:]
    hosts = recap(again.stdout)
    assert hosts and all(changed == 0 for changed, _, _ in hosts.values()), hosts


def test_secret_from_the_vault_never_reaches_the_output(first_run):
    secret = subprocess.run(
        [
            str(ROOT / ".venv/bin/ansible-vault"),
            "view",
            "--vault-password-file",
            str(ROOT / "inventory/local/vault-password"),
            str(ROOT / "inventory/local/group_vars/webapp/vault.yml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split('"')[1]
    assert len(secret) > 12
    assert secret not in first_run.stdout + first_run.stderr
    logs = subprocess.run(
        ["docker", "exec", ENV["REHEARSAL_NAME"], "docker", "logs", "webapp"], capture_output=True, text=True
    )
    assert logs.returncode == 0 and secret not in logs.stdout + logs.stderr


def test_down_terminates_the_instance_and_removes_the_host(first_run):
    down = rehearsal("down")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]
    gone = subprocess.run(["docker", "inspect", ENV["REHEARSAL_NAME"]], capture_output=True)
    assert gone.returncode != 0
