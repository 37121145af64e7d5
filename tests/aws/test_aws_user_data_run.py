"""The console user-data script, run for real: rendered by playbooks/render-user-data.yml, copied to a
Debian 12 systemd host (scripts/host-container.sh, ssh on 127.0.0.1:2232, the app on 127.0.0.1:18092)
and run there as root with `bash script`, as cloud-init would.

The host has no Docker and no registry. The script's apt-get branch must install Docker itself, so the
image cannot be loaded before the first run; and that run cannot pull. So the tests follow what an operator
without a registry would see: the first run installs and configures everything, then stops at the pull with
a message saying what to do; the image is then loaded (docker save | docker load); the second run starts the
container without pulling; a third run changes nothing. The tests run in order on one host."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hostkit
import pytest
import requests
from aws_helpers import REPO, run_playbook

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = "webapp-userdata-test"
SSH_PORT = 2232
APP = "http://127.0.0.1:18092"
IMAGE = "webapp:local"
SECRET = "user-data-run-s3cr3t-$HOME-'q'"
SCRIPT_ON_HOST = "/root/user-data.sh"
SSH = [
    "ssh",
    "-i",
    str(hostkit.SSH_KEY),
    "-p",
    str(SSH_PORT),
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "IdentitiesOnly=yes",
    "root@127.0.0.1",
]


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str


def observe(*command: str) -> str:
    """A command on the host through the engine: observations only; the script runs over ssh."""
    return subprocess.run(
        ["docker", "exec", HOST, *command], capture_output=True, text=True, check=True
    ).stdout


def run_script() -> Run:
    """`bash script` as root over ssh, without a terminal, as cloud-init runs user data."""
    proc = subprocess.run(
        [*SSH, f"bash {SCRIPT_ON_HOST}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def container() -> dict:
    return json.loads(observe("docker", "container", "inspect", "webapp"))[0]


def container_logs() -> str:
    logs = subprocess.run(
        ["docker", "exec", HOST, "docker", "logs", "--tail", "40", "webapp"], capture_output=True, text=True
    )
    return logs.stdout + logs.stderr


def wait_healthy(timeout: float = 60) -> None:
    hostkit.wait_healthy(APP, timeout=timeout, diagnose=container_logs)


@pytest.fixture(scope="module")
def script(inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("user-data-run")
    dest = workdir / "user-data.sh"
    variables = {
        "ec2_instance_user_data_dest": str(dest),
        "app_image": IMAGE,
        "app_env": {"SECRET_KEY": SECRET},
    }
    run = run_playbook(REPO / "playbooks" / "render-user-data.yml", inventory, workdir, variables)
    assert run.rc == 0, run.output[-3000:]
    assert "s3cr3t" not in run.output
    return dest


@pytest.fixture(scope="module")
def host(script: Path) -> Iterator[str]:
    hostkit.ensure_image(IMAGE)
    # A fresh host: a container (and its Docker volume) left by an earlier, interrupted run goes first.
    hostkit.host_down(HOST)
    try:
        hostkit.host_up(HOST, SSH_PORT, 18092)
        assert subprocess.run(["docker", "exec", HOST, "sh", "-c", "command -v docker"]).returncode != 0
        subprocess.run(
            [*SSH, f"umask 077; cat > {SCRIPT_ON_HOST}"], stdin=script.open("rb"), check=True, timeout=30
        )
        yield HOST
    finally:
        hostkit.host_down(HOST)


@pytest.fixture(scope="module")
def first_boot(host: str) -> Run:
    """The run at first boot: Docker comes from apt-get, the image from nowhere (no registry)."""
    return run_script()


@pytest.fixture(scope="module")
def loaded(first_boot: Run) -> Run:
    """The operator loads the image by hand and runs the script again."""
    save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
    subprocess.run(
        ["docker", "exec", "-i", HOST, "docker", "load", "--quiet"],
        stdin=save.stdout,
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert save.wait(timeout=60) == 0
    run = run_script()
    assert run.rc == 0, run.stderr
    wait_healthy()
    return run


def test_first_boot_installs_docker_then_stops_at_the_pull_saying_what_to_do(first_boot):
    assert first_boot.rc != 0
    assert "installing docker.io with apt-get" in first_boot.stderr
    assert "pulling webapp:local" in first_boot.stderr
    assert "could not pull webapp:local" in first_boot.stderr
    assert "docker load the image" in first_boot.stderr
    assert observe("docker", "ps", "-aq") == ""


def test_docker_is_enabled_at_boot_and_running(first_boot):
    assert observe("systemctl", "is-enabled", "docker").strip() == "enabled"
    assert observe("systemctl", "is-active", "docker").strip() == "active"
    # The engine runs with the rotation settings, not only has them on disk.
    info = json.loads(observe("docker", "info", "--format", "{{json .}}"))
    assert info["LoggingDriver"] == "json-file"


def test_engine_is_hardened_and_rotates_container_logs(first_boot):
    assert json.loads(observe("cat", "/etc/docker/daemon.json")) == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "5"},
        "live-restore": True,
        "icc": False,
        "no-new-privileges": True,
        "userland-proxy": False,
    }
    # Written before the engine's first start, so the running engine has it without a restart.
    info = json.loads(observe("docker", "info", "--format", "{{json .}}"))
    assert info["LiveRestoreEnabled"] is True
    bridge = json.loads(observe("docker", "network", "inspect", "bridge"))[0]
    assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false"


def test_env_file_is_0600_root_with_the_merged_settings(first_boot, script):
    assert observe("stat", "-c", "%a %U %G", "/app/.env").split() == ["600", "root", "root"]
    content = observe("cat", "/app/.env")
    expected = re.search(r"<<'APP_ENV'\n(.*?)^APP_ENV$", script.read_text(), re.S | re.M)
    assert expected and content == expected.group(1)
    settings = dict(line.split("=", 1) for line in content.splitlines())
    assert settings["SECRET_KEY"] == SECRET
    assert settings["DATABASE_URL"] == "sqlite:////app/data/app.db"


def test_data_dir_belongs_to_the_app_user(first_boot):
    assert observe("stat", "-c", "%u %g %a", "/app/data").split() == ["10001", "10001", "750"]
    assert observe("stat", "-c", "%a %U", "/app").split() == ["755", "root"]


def test_the_loaded_image_is_used_without_pulling(loaded):
    assert "pulling" not in loaded.stderr
    assert "container webapp started from webapp:local on port 8000" in loaded.stderr


def test_container_runs_hardened_and_restarts_unless_stopped(loaded):
    found = container()
    assert found["State"]["Running"] is True
    assert found["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert found["HostConfig"]["ReadonlyRootfs"] is True
    assert found["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in found["HostConfig"]["SecurityOpt"]
    assert found["Config"]["User"] == "10001:10001"
    assert found["Config"]["Image"] == IMAGE
    binds = {m["Destination"]: m["Source"] for m in found["Mounts"]}
    assert binds["/app/data"] == "/app/data"


def test_app_answers_from_the_controller(loaded):
    response = requests.get(f"{APP}/health", timeout=5)
    assert response.status_code == 200


def test_no_run_prints_the_secret(first_boot, loaded):
    for run in (first_boot, loaded):
        assert "s3cr3t" not in run.stdout + run.stderr


def test_running_it_again_keeps_the_container_and_the_data(loaded):
    created = requests.post(
        f"{APP}/api/items", json={"name": "kept", "data": {"by": "user-data"}}, timeout=10
    )
    assert created.status_code == 201, created.text
    item = created.json()["id"]
    before = container()
    daemon_started = observe("systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "docker")

    again = run_script()

    assert again.rc == 0, again.stderr
    assert "container webapp is up to date" in again.stderr
    assert "s3cr3t" not in again.stdout + again.stderr
    after = container()
    assert after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert observe("systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "docker") == daemon_started
    fetched = requests.get(f"{APP}/api/items/{item}", timeout=10)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "kept"
