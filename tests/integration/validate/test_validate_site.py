"""site.yml against the local rehearsal (inventory/local, moto's server and a systemd host, through
scripts/lib/rehearsal.sh with names and ports of this module's own) stops in its validation play for
each kind of mistake a typo makes: a misspelt variable or setting, a missing secret, a malformed CIDR
or port, conflicting settings, an image that cannot be delivered as configured. The message names the
variable, the file it was set in and the fix; the emulator's request log shows no AWS call, and the
host's sshd log shows no connection. The host is named in the inventory with working ssh settings (as
on a second run of site.yml), so a connection would have reached it: the control test proves it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from support import hostkit

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = hostkit.ROOT
NAME = hostkit.run_name("validate-test")
SSH_PORT = hostkit.run_port(2236, 0)
MOTO_PORT = hostkit.run_port(15097, 1)
ENV = {
    "REHEARSAL_NAME": NAME,
    "REHEARSAL_SSH_PORT": str(SSH_PORT),
    "REHEARSAL_MOTO_PORT": str(MOTO_PORT),
    "REHEARSAL_APP_PORT": str(hostkit.run_port(18097, 2)),
}
MOTO_LOG = ROOT / "build" / "rehearsal" / NAME / "moto.log"
HOST = "webapp-local"  # the name provision.yml gives the rehearsal's instance
REQUEST = re.compile(r'"(GET|POST|PUT|DELETE|HEAD|PATCH) (\S+) HTTP/')
# A new connection (VERBOSE logs every one, even one that never authenticates). Not its end: the control
# test's ssh master closes up to ControlPersist later, while another case runs.
SSHD_CONNECTION = re.compile(r"Connection from|Accepted ")


def lib(command: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """A bash command with scripts/lib/rehearsal.sh sourced, on this module's names and ports."""
    script = f'here={ROOT}; . "$here/scripts/lib/rehearsal.sh"; {command}'
    env = {**hostkit.ansible_env(), **ENV}
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def aws_requests() -> list[str]:
    """The AWS API requests the emulator logged (its own /moto-api/ endpoints are not AWS calls)."""
    lines = MOTO_LOG.read_text().splitlines() if MOTO_LOG.exists() else []
    return [line for line in lines if (m := REQUEST.search(line)) and not m.group(2).startswith("/moto-api/")]


def sshd_cursor() -> str:
    out = subprocess.run(
        ["docker", "exec", NAME, "journalctl", "-u", "ssh", "-n", "0", "--show-cursor", "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().splitlines()[-1].removeprefix("-- cursor: ")


def sshd_connections(after: str) -> list[str]:
    """Lines of the host's sshd log about connections since the cursor."""
    out = subprocess.run(
        [
            "docker",
            "exec",
            NAME,
            "journalctl",
            "-u",
            "ssh",
            "--after-cursor",
            after,
            "--no-pager",
            "-o",
            "cat",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if SSHD_CONNECTION.search(line)]


@pytest.fixture(scope="module")
def rehearsal() -> Iterator[None]:
    hostkit.ensure_image("webapp:local")
    started = lib("rehearsal_moto_up && rehearsal_host_up", timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        # Every TCP connection to sshd is logged, even one that never authenticates.
        subprocess.run(
            [
                "docker",
                "exec",
                NAME,
                "sh",
                "-c",
                "echo 'LogLevel VERBOSE' > /etc/ssh/sshd_config.d/verbose.conf && systemctl reload ssh",
            ],
            check=True,
        )
        yield
    finally:
        lib("rehearsal_host_down; rehearsal_moto_down")


@pytest.fixture(scope="module")
def secret() -> str:
    """The rehearsal vault's SECRET_KEY, which no output may show."""
    view = subprocess.run(
        [
            str(hostkit.VENV_BIN / "ansible-vault"),
            "view",
            "--vault-password-file",
            str(ROOT / "inventory" / "local" / "vault-password"),
            str(ROOT / "inventory" / "local" / "group_vars" / "webapp" / "vault.yml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_load(view)["vault_app_secret_key"]


@dataclass
class Mistake:
    """Inventory files over inventory/local (path under the extra inventory -> YAML), and what the
    report must say: phrases, and the file (relative to the extra inventory) it must name. stops_at: the
    task that stops the run, when it is not the validation's report (the fleet's shape is checked first)."""

    files: dict[str, dict]
    phrases: list[str]
    origin: str
    hosts: tuple[str, ...] = (HOST,)
    stops_at: str | None = None


GOOD_ENV = {"SECRET_KEY": "{{ vault_app_secret_key }}", "LOG_LEVEL": "INFO"}
MISTAKES = {
    # unknown or misspelt keys, with a suggestion
    "misspelt-role-variable": Mistake(
        {"group_vars/webapp/mistake.yml": {"app_imgae": "webapp:local"}},
        ["app_imgae", "no role reads this variable", "Did you mean app_image?"],
        "group_vars/webapp/mistake.yml:1",
    ),
    "misspelt-prefix": Mistake(
        {"group_vars/all/mistake.yml": {"ec2_instnace_type": "t3.micro"}},
        ["ec2_instnace_type", "misspelling of ec2_instance_type"],
        "group_vars/all/mistake.yml:1",
    ),
    "renamed-variable": Mistake(
        {"group_vars/all/mistake.yml": {"ec2_instance_app_port": 8000}},
        ["ec2_instance_app_port", "renamed to ec2_instance_app_ports", "ec2_instance_app_ports: [8000]"],
        "group_vars/all/mistake.yml:1",
    ),
    "misspelt-setting": Mistake(
        {"group_vars/webapp/mistake.yml": {"app_env": {**GOOD_ENV, "LOG_LEVL": "DEBUG"}}},
        ["'LOG_LEVL' (did you mean 'LOG_LEVEL'?)", "Check the settings in app_env against the known keys"],
        "group_vars/webapp/mistake.yml:1",
    ),
    # missing secrets
    "missing-secret": Mistake(
        {"group_vars/webapp/mistake.yml": {"app_env": {"LOG_LEVEL": "INFO"}}},
        ["app_env.SECRET_KEY is required and has no value", "vault_app_secret_key"],
        "group_vars/webapp/mistake.yml:1",
    ),
    # malformed CIDRs and ports
    "cidr-host-bits": Mistake(
        {"group_vars/all/mistake.yml": {"ec2_instance_ssh_cidrs": ["203.0.113.5/24"]}},
        ["ec2_instance_ssh_cidrs", "has host bits set; write the network address 203.0.113.0/24"],
        "group_vars/all/mistake.yml:1",
    ),
    "cidr-garbage": Mistake(
        {"group_vars/all/mistake.yml": {"ec2_instance_app_cidrs": ["office"]}},
        ["ec2_instance_app_cidrs", "'office' is not an IPv4 or IPv6 CIDR"],
        "group_vars/all/mistake.yml:1",
    ),
    "published-port": Mistake(
        {"group_vars/webapp/mistake.yml": {"app_publish": "80000:8000"}},
        ['app_publish must be "[IP:]HOST_PORT:8000" with HOST_PORT between 1 and 65535', "80000:8000"],
        "group_vars/webapp/mistake.yml:1",
    ),
    "security-group-port": Mistake(
        {"group_vars/all/mistake.yml": {"ec2_instance_app_ports": [8000, 70000]}},
        ["Set ec2_instance_app_ports to a list of TCP ports", "70000 is not between 1 and 65535"],
        "group_vars/all/mistake.yml:1",
    ),
    # conflicting settings
    "sqlite-two-hosts": Mistake(
        {"hosts.yml": {"webapp": {"hosts": {"webapp-two": hostkit.host_vars(SSH_PORT)}}}},
        [
            "app_database is sqlite, and the inventory asks for 2 hosts",
            f"in the webapp group: {HOST}, webapp-two",
            "or keep one host (ec2_instance_count: 1)",
        ],
        "",
        hosts=(HOST, "webapp-two"),
        stops_at="Refuse several hosts on SQLite, and hosts that disagree on the database",
    ),
    "domain-without-https-ports": Mistake(
        {"group_vars/webapp/mistake.yml": {"app_domain": "app.example.com"}},
        [
            "serves HTTPS for app_domain 'app.example.com'",
            "set ec2_instance_app_ports: [80, 443] (got [8000])",
        ],
        "group_vars/webapp/mistake.yml:1",
    ),
    # images that cannot be delivered as configured
    "archive-missing-on-controller": Mistake(
        {"group_vars/webapp/mistake.yml": {"app_image": "webapp-validate-absent:1"}},
        ["The controller's Docker engine has no image webapp-validate-absent:1", "make image"],
        "group_vars/webapp/mistake.yml:1",
    ),
    "registry-tag-that-moves": Mistake(
        {
            "group_vars/webapp/mistake.yml": {
                "app_image_source": "registry",
                "app_image": "registry.example.com/webapp",
            }
        },
        ["names no fixed version", "Pin an immutable tag (e.g. registry.example.com/webapp:1.4.2)"],
        "group_vars/webapp/mistake.yml:1",
    ),
    "image-uppercase": Mistake(
        {"group_vars/webapp/mistake.yml": {"app_image": "WebApp:local"}},
        ["repository names are lowercase: write 'webapp:local'"],
        "group_vars/webapp/mistake.yml:1",
    ),
}


def extra_inventory(tmp_path: Path, mistake: Mistake) -> Path:
    """An inventory source over inventory/local: the rehearsal's host named with working ssh settings,
    and the mistake's files."""
    inventory = tmp_path / "inventory"
    hosts = {"webapp": {"hosts": {HOST: hostkit.host_vars(SSH_PORT)}}}
    for relative, content in mistake.files.items():
        if relative == "hosts.yml":
            hosts["webapp"]["hosts"].update(content["webapp"]["hosts"])
            continue
        path = inventory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content))
    (inventory / "hosts.yml").parent.mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory


def site(inventory: Path) -> subprocess.CompletedProcess[str]:
    return lib(f'rehearsal_play "$here/playbooks/site.yml" -i {inventory}')


def test_a_connection_and_an_aws_call_would_show(rehearsal, tmp_path):
    # The control: with the same inventory, a real connection shows in the host's sshd log, and an AWS
    # call in the emulator's request log. Without it, the tests below could not fail.
    inventory = extra_inventory(tmp_path, Mistake({}, [], ""))
    cursor, calls = sshd_cursor(), len(aws_requests())
    ping = lib(
        f'"$rehearsal_bin/ansible" -i "$rehearsal_inventory" -i {inventory} {HOST} -m ansible.builtin.ping '
        '--vault-password-file "$rehearsal_vault_password_file"'
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert sshd_connections(cursor), "the ping left no trace in sshd's log"
    boto3.client(
        "ec2",
        endpoint_url=f"http://127.0.0.1:{MOTO_PORT}",
        region_name="us-east-1",
        aws_access_key_id="rehearsal",
        aws_secret_access_key="rehearsal",
    ).describe_vpcs()
    assert len(aws_requests()) == calls + 1


@pytest.mark.parametrize("case", list(MISTAKES))
def test_site_stops_in_the_validation_play(rehearsal, secret, tmp_path, case):
    mistake = MISTAKES[case]
    inventory = extra_inventory(tmp_path, mistake)
    cursor, calls = sshd_cursor(), aws_requests()
    run = site(inventory)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    # Nothing ran after the validation: its report (or the gate after it) is the last task of the run.
    tasks = re.findall(r"^TASK \[(.+?)\]", run.stdout, re.M)
    if mistake.stops_at:  # a check before the validation's
        assert tasks[-1] == mistake.stops_at, tasks
        assert not [task for task in tasks if task.startswith("validate :")], tasks
    else:
        # (The controller's own checks may finish after a managed host's report: hosts run in lockstep.)
        assert "validate : Report every problem found on this host" in tasks
        assert tasks[-1] in {
            "validate : Report every problem found on this host",
            "validate : Remember what passed on this host in this run",
            "Stop when a host has a problem",
        }, tasks
    changing = ("ec2_instance : Read the account", "docker : Install", "app : Ask the host", "app : Create")
    assert not [task for task in tasks if task.startswith(changing)]
    message = " ".join(output.split())  # the YAML output folds long messages
    for phrase in mistake.phrases:
        assert phrase in message, f"{phrase!r} not in:\n{output[-4000:]}"
    if mistake.origin:
        # The file, and a line in it: the variable's own line, or where its value (a mapping) starts.
        path, _, line = mistake.origin.rpartition(":")
        where = re.escape(f"{inventory}/{path}")
        assert re.search(rf"{where}:(?:{line}|{int(line) + 1})\b", message), output[-4000:]
    assert aws_requests() == calls, "the emulator received AWS calls"
    assert sshd_connections(cursor) == [], "ssh connected to the host"
    assert secret not in output
