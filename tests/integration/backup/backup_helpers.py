"""Helpers for the backup role tests: paths, the AWS emulator environment, an ansible-playbook runner,
and a deployed host to back up and restore."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import hostkit
import pytest
import yaml
from hostkit import ROOT, VENV_BIN, ansible_env

HERE = Path(__file__).resolve().parent


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


def aws_client(service: str, endpoint: str):  # boto3 clients have no importable type
    """A boto3 client on the emulator, with the same credentials the playbooks get."""
    env = aws_env(endpoint)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def moto_instance(ec2: object, zone: str) -> str:
    """An instance in `zone` on the emulator (an Amazon-owned image); its id."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    found = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.small", Placement={"AvailabilityZone": zone}
    )
    return found["Instances"][0]["InstanceId"]


def run_playbook(
    playbook: Path | str,
    *args: str,
    extra_vars: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: int = 900,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook with the project's config; output kept for the assertion message."""

    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    full_env = ansible_env(**(env or {}))
    proc = subprocess.run(
        cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    # Whitespace collapsed, for messages: the YAML output folds long ones over several lines.
    proc.flat = " ".join(proc.stdout.split())  # type: ignore[attr-defined]
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        pytest.fail(f"{' '.join(cmd[:2])} failed ({proc.returncode}):\n{tail}")
    return proc


@dataclass
class Site:
    """A deployed host and how to run the project's playbooks against it."""

    inventory: Path
    env: dict[str, str]
    endpoint: str

    def play(
        self, name: str, *args: str, check: bool = True, **extra: object
    ) -> subprocess.CompletedProcess[str]:
        return run_playbook(
            ROOT / "playbooks" / name,
            "-i",
            str(self.inventory),
            *args,
            extra_vars=extra or None,
            env=self.env,
            check=check,
        )


@contextmanager
def deployed_site(
    host: str,
    ssh_port: int,
    app_port: int,
    endpoint: str,
    workdir: Path,
    group_vars: dict[str, object],
    device_rule: str = "",
) -> Iterator[Site]:
    """A host container configured and deployed with the project's playbooks (image webapp:local),
    its backup role pointed at the AWS emulator; removed afterwards whatever happened."""
    hostkit.ensure_image("webapp:local")
    hostkit.host_up(host, ssh_port, app_port, device_rule=device_rule)
    inventory = workdir / "hosts.yml"
    base = {
        "app_image": "webapp:local",
        "app_image_source": "archive",
        "app_health_timeout": 90,
        "backup_aws_endpoint_url": endpoint,
        "backup_aws_region": "us-east-1",
        # These hosts cannot reach the emulator on the controller's 127.0.0.1: the controller uploads.
        "backup_aws_from": "controller",
    }
    hosts = {host: hostkit.host_vars(ssh_port)}
    inventory.write_text(yaml.safe_dump({"webapp": {"hosts": hosts, "vars": {**base, **group_vars}}}))
    site = Site(inventory, aws_env(endpoint), endpoint)
    try:
        site.play("configure.yml")
        site.play("deploy.yml")
        hostkit.wait_healthy(f"http://127.0.0.1:{app_port}", timeout=90)
        hostkit.authorize(f"http://127.0.0.1:{app_port}", host)  # writes need a token
        yield site
    finally:
        hostkit.host_down(host)
