"""The instance side for real, on a Debian 12 systemd host (scripts/host-container.sh) that reaches the AWS
emulator as an instance reaches AWS: moto runs in its own container on a Docker network the host joins,
at 169.254.169.254, where EC2's instance metadata service answers. The host's AWS CLI finds no
credentials but the instance role's, from the metadata service (moto's); the controller reaches the same
emulator published on 127.0.0.1, so both sides see one AWS.

1. User data. playbooks/render-user-data.yml writes the settings to SSM and a script that holds none of
   them; the script runs as root over ssh, as cloud-init would. The host has no Docker, no AWS CLI and no
   registry: the first run installs both with apt-get, writes /app/.env (0600) from SSM, and stops at the
   pull saying what to do; the image is loaded by hand; the second run starts the app with the secret;
   a third changes nothing.
2. SSH host keys. provision.yml against the same emulator, with the host as the instance (127.0.0.1 and
   its ssh port), the emulator's console printing the host's real keys as cloud-init does: first contact
   pins them and the later play's ssh works; a changed key is refused saying what to check, and ssh itself
   refuses it; teardown forgets the entry; a host that does not present the console's keys at first
   contact is refused.

The tests run in order on one host. Names and ports: WEBAPP_TEST_PREFIX and WEBAPP_TEST_PORT_BASE
(hostkit.run_name, run_port) override the defaults below."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from aws_helpers import HERE, aws_client, provision_vars, run_playbook
from support import hostkit, metadata_moto
from support.hostkit import ROOT as REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = hostkit.run_name("userdata-test")
MOTO = hostkit.run_name("userdata-moto")
NETWORK = hostkit.run_name("userdata-net")
SSH_PORT = hostkit.run_port(2232, 0)
APP_PORT = hostkit.run_port(18092, 1)
MOTO_PORT = hostkit.run_port(15092, 2)
APP = f"http://127.0.0.1:{APP_PORT}"
ENDPOINT = f"http://127.0.0.1:{MOTO_PORT}"
# Where the host finds the emulator: EC2's link-local metadata address, on the test network.
METADATA_IP = metadata_moto.METADATA_IP
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
    *hostkit.TEST_HOST_SSH_ARGS.split(),
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
        timeout=600,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def container() -> dict:
    return json.loads(observe("docker", "container", "inspect", "webapp"))[0]


def container_logs() -> str:
    logs = subprocess.run(
        ["docker", "exec", HOST, "docker", "logs", "--tail", "40", "webapp"], capture_output=True, text=True
    )
    return logs.stdout + logs.stderr


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def console_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the emulator's instances print on their console (moto_like_aws.py reads it)."""
    directory = tmp_path_factory.mktemp("console")
    directory.chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def emulator(console_dir: Path) -> Iterator[str]:
    """moto (through moto_like_aws.py) in a container at 169.254.169.254 on the test network, published on
    127.0.0.1 for the controller (tests/support/metadata_moto.py)."""
    docker("rm", "-f", "-v", HOST, check=False)
    with metadata_moto.emulator(MOTO, NETWORK, MOTO_PORT, console_dir) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def script(emulator: str, inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user data, rendered against the emulator; the instance side calls it at the metadata address."""
    workdir = tmp_path_factory.mktemp("user-data-run")
    dest = workdir / "user-data.sh"
    variables = {
        "ec2_instance_endpoint_url": emulator,
        "ec2_instance_environment": "userdata-run",
        "ec2_instance_user_data_aws_endpoint_url": f"http://{METADATA_IP}",
        "ec2_instance_user_data_dest": str(dest),
        "app_image": IMAGE,
        "app_env": {"SECRET_KEY": SECRET},
    }
    run = run_playbook(REPO / "playbooks" / "render-user-data.yml", inventory, workdir, variables)
    assert run.rc == 0, run.output[-3000:]
    assert "s3cr3t" not in run.output
    assert "s3cr3t" not in dest.read_text()
    return dest


@pytest.fixture(scope="module")
def host(script: Path, emulator: str) -> Iterator[str]:
    hostkit.ensure_image(IMAGE)
    hostkit.host_down(HOST)
    try:
        hostkit.host_up(HOST, SSH_PORT, APP_PORT)
        docker("network", "connect", NETWORK, HOST)
        assert subprocess.run(
            ["docker", "exec", HOST, "sh", "-c", "command -v docker || command -v aws"]
        ).returncode
        subprocess.run(
            [*SSH, f"umask 077; cat > {SCRIPT_ON_HOST}"], stdin=script.open("rb"), check=True, timeout=30
        )
        yield HOST
    finally:
        hostkit.host_down(HOST)


@pytest.fixture(scope="module")
def first_boot(host: str) -> Run:
    """The run at first boot: Docker and the AWS CLI come from apt-get, the image from nowhere."""
    return run_script()


@pytest.fixture(scope="module")
def loaded(first_boot: Run) -> Run:
    """The operator loads the image by hand and runs the script again."""
    hostkit.load_images(HOST, IMAGE)
    run = run_script()
    assert run.rc == 0, run.stderr
    hostkit.wait_healthy(APP, timeout=60, diagnose=container_logs)
    return run


# --- 1. user data ---------------------------------------------------------------------------------------


def test_first_boot_installs_docker_and_the_aws_cli_then_stops_at_the_pull(first_boot):
    assert first_boot.rc != 0
    assert "installing docker.io awscli with apt-get" in first_boot.stderr
    assert "could not pull webapp:local" in first_boot.stderr
    assert "docker load the image" in first_boot.stderr
    assert observe("docker", "ps", "-aq") == ""


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


def test_the_host_has_no_credentials_but_the_instance_roles(first_boot):
    listed = observe("aws", "configure", "list")
    assert re.search(r"access_key\s+\*+\S+\s+iam-role", listed), listed


def test_env_file_is_0600_root_with_the_settings_from_ssm(first_boot, emulator):
    assert observe("stat", "-c", "%a %U %G", "/app/.env").split() == ["600", "root", "root"]
    content = observe("cat", "/app/.env")
    stored = aws_client("ssm", emulator).get_parameter(
        Name="/webapp/userdata-run/app.env", WithDecryption=True
    )
    assert content == stored["Parameter"]["Value"]
    settings = dict(line.split("=", 1) for line in content.splitlines())
    assert settings["SECRET_KEY"] == SECRET
    assert settings["DATABASE_URL"] == "sqlite:////app/data/app.db"


def test_the_app_starts_with_the_secret_from_ssm(loaded):
    found = container()
    assert found["State"]["Running"] is True
    assert found["Config"]["Image"] == IMAGE
    assert f"SECRET_KEY={SECRET}" in found["Config"]["Env"]
    assert found["HostConfig"]["ReadonlyRootfs"] is True and found["HostConfig"]["CapDrop"] == ["ALL"]
    assert requests.get(f"{APP}/health", timeout=5).status_code == 200


def test_no_run_prints_the_secret(first_boot, loaded):
    for run in (first_boot, loaded):
        assert "s3cr3t" not in run.stdout + run.stderr


def test_running_it_again_changes_nothing(loaded):
    before = container()
    again = run_script()
    assert again.rc == 0, again.stderr
    assert "container webapp is up to date" in again.stderr
    after = container()
    assert (after["Id"], after["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])


def test_without_the_parameter_the_script_stops_saying_what_to_check(loaded, emulator):
    ssm = aws_client("ssm", emulator)
    value = ssm.get_parameter(Name="/webapp/userdata-run/app.env", WithDecryption=True)["Parameter"]["Value"]
    ssm.delete_parameter(Name="/webapp/userdata-run/app.env")
    try:
        run = run_script()
    finally:
        ssm.put_parameter(Name="/webapp/userdata-run/app.env", Value=value, Type="SecureString")
    assert run.rc != 0
    assert "could not read /webapp/userdata-run/app.env from SSM Parameter Store" in run.stderr
    assert "instance profile webapp-userdata-run-instance" in run.stderr
    # The settings in place are left as they were, and the app keeps running.
    assert f"SECRET_KEY={SECRET}" in observe("cat", "/app/.env")
    assert container()["State"]["Running"] is True


# --- 2. SSH host keys -----------------------------------------------------------------------------------


def host_public_keys() -> list[str]:
    listed = observe("sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub")
    return [" ".join(line.split()[:2]) for line in listed.splitlines() if line.strip()]


def print_on_console(console_dir: Path, keys: list[str]) -> None:
    """What cloud-init prints at first boot, for every instance of the emulator."""
    lines = "".join(f"{key} root@{HOST}\n" for key in keys)
    block = f"-----BEGIN SSH HOST KEY KEYS-----\n{lines}-----END SSH HOST KEY KEYS-----\n"
    (console_dir / "default").write_text(f"[   12.3] cloud-init: ...\n{block}")


def outcome(output: str, task: str) -> str:
    """The first word of the result line under TASK [task...] (ok, changed, skipping, failed)."""
    match = re.search(rf"^TASK \[{re.escape(task)}[^\n]*\n(\w+)", output, re.M)
    assert match, f"no task {task!r} in:\n{output[-3000:]}"
    return match.group(1)


@pytest.fixture(scope="module")
def pinning(host: str, emulator: str, ssh_key: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Provision variables for the host as the instance, with a known_hosts file of their own."""
    workdir = tmp_path_factory.mktemp("host-keys")
    variables = provision_vars(
        emulator,
        ssh_key,
        "hostkeys-test",
        ec2_instance_connect_host="127.0.0.1",
        ec2_instance_connect_port=SSH_PORT,
        ec2_instance_wait_for_ssh=True,
        ec2_instance_wait_for_ssh_timeout=60,
        ec2_instance_ssh_user="root",
        ec2_instance_ssh_private_key_file=str(hostkit.SSH_KEY),
        ec2_instance_known_hosts_file=str(workdir / "known_hosts"),
    )
    return {"variables": variables, "workdir": workdir, "known_hosts": workdir / "known_hosts"}


def provision_and_ping(pinning: dict, inventory: Path):
    # A fresh ssh control directory for every run: a live master connection would skip the host key check.
    control = pinning["workdir"] / f"cp-{len(list(pinning['workdir'].glob('cp-*')))}"
    control.mkdir()
    return run_playbook(
        HERE / "playbooks" / "provision-and-ping.yml",
        inventory,
        pinning["workdir"],
        pinning["variables"],
        env={"ANSIBLE_SSH_CONTROL_PATH_DIR": str(control)},
    )


@pytest.fixture(scope="module")
def original_keys(host: str, console_dir: Path) -> list[str]:
    keys = host_public_keys()
    assert len(keys) >= 2
    print_on_console(console_dir, keys)
    return keys


def test_first_contact_pins_the_console_keys_and_ssh_then_works(original_keys, pinning, inventory):
    run = provision_and_ping(pinning, inventory)
    assert run.rc == 0, run.output[-4000:]
    assert re.search(r"TASK \[Ping it over ssh\] \*+\nok: \[webapp-hostkeys-test\]", run.output)
    pinned = pinning["known_hosts"].read_text().splitlines()
    assert sorted(" ".join(line.split()[1:3]) for line in pinned) == sorted(original_keys)
    assert all(line.startswith(f"[127.0.0.1]:{SSH_PORT} ") for line in pinned)


def test_a_second_run_checks_the_pinned_key_and_changes_nothing(original_keys, pinning, inventory):
    before = pinning["known_hosts"].read_text()
    run = provision_and_ping(pinning, inventory)
    assert run.rc == 0, run.output[-4000:]
    assert run.recap["changed"] == 0, run.output[-4000:]
    assert outcome(run.output, "ec2_instance : Read the host keys from the instance's console") == "skipping"
    assert outcome(run.output, "ec2_instance : Check that the host presents a pinned key") == "ok"
    assert pinning["known_hosts"].read_text() == before


def test_a_changed_host_key_is_refused_saying_what_to_check(original_keys, pinning, inventory):
    observe("sh", "-c", "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; systemctl restart ssh")
    assert not set(host_public_keys()) & set(original_keys)
    run = provision_and_ping(pinning, inventory)
    assert run.rc != 0
    message = " ".join(run.output.split())
    assert f"The SSH host key of [127.0.0.1]:{SSH_PORT} CHANGED since it was pinned in" in message
    assert f"ssh-keygen -R '[127.0.0.1]:{SSH_PORT}'" in message
    assert "aws ec2 get-console-output --instance-id i-" in message
    assert "TASK [Ping it over ssh]" not in run.output
    # ssh itself refuses the host with the inventory entry's options, whatever the playbooks do.
    refused = subprocess.run(
        [
            "ssh", "-i", str(hostkit.SSH_KEY), "-p", str(SSH_PORT), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={pinning['known_hosts']}",
            "root@127.0.0.1", "true",
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr


def test_teardown_forgets_the_pinned_entry(original_keys, pinning, inventory):
    run = run_playbook(
        REPO / "playbooks" / "teardown.yml",
        inventory,
        pinning["workdir"],
        {**pinning["variables"], "confirm_teardown": "yes"},
    )
    assert run.rc == 0, run.output[-4000:]
    assert f"[127.0.0.1]:{SSH_PORT}" not in pinning["known_hosts"].read_text()


def test_first_contact_refuses_a_host_that_does_not_present_the_consoles_keys(
    original_keys, pinning, inventory
):
    # The console still prints the old keys; the host at the address presents new ones.
    run = provision_and_ping(pinning, inventory)
    assert run.rc != 0
    message = " ".join(run.output.split())
    assert f"The host answering SSH at [127.0.0.1]:{SSH_PORT} does not present the keys instance" in message
    assert "Do not connect" in message
    assert "TASK [Ping it over ssh]" not in run.output
    # Only what the console printed was trusted.
    pinned = {" ".join(line.split()[1:3]) for line in pinning["known_hosts"].read_text().splitlines()}
    assert pinned == set(original_keys)
