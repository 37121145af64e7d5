"""Helpers for the AWS provisioning tests: moto's server on a free 127.0.0.1 port, boto3 on it, and a
runner for the real ansible-playbook against it (dummy credentials, region us-east-1)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from hostkit import ROOT as REPO
from hostkit import VENV_BIN, ansible_env, free_port

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
# Operator networks of the tests (documentation ranges, RFC 5737 / RFC 3849).
SSH_CIDRS = ["203.0.113.7/32", "2001:db8::/64"]
APP_CIDRS = ["198.51.100.0/24"]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@contextmanager
def moto_server(console_dir: Path | None = None) -> Iterator[str]:
    """moto's server (through moto_like_aws.py) on a free loopback port, up until the block ends; with
    console_dir, instances print the files there as their console output (see moto_like_aws.py)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, **({"MOTO_CONSOLE_DIR": str(console_dir)} if console_dir else {})}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "moto_like_aws.py"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310 (loopback)
                    break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {endpoint}")
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def aws_env() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }


def aws_client(service: str, endpoint: str):  # boto3 clients have no importable type
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def ec2_client(endpoint: str):
    return aws_client("ec2", endpoint)


@dataclass
class Run:
    rc: int
    output: str

    @property
    def recap(self) -> dict[str, int]:
        """The localhost line of PLAY RECAP (the last one, if several plays ran)."""
        found = [m for m in RECAP.finditer(self.output) if m.group(1) == "localhost"]
        assert found, f"no PLAY RECAP for localhost in:\n{self.output[-3000:]}"
        ok, changed, unreachable, failed = map(int, found[-1].groups()[1:])
        return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


def run_playbook(
    playbook: Path,
    inventory: Path,
    tmp_path: Path,
    extra_vars: dict[str, object],
    *args: str,
    env: dict[str, str] | None = None,
) -> Run:
    """The real ansible-playbook, with the variables in a JSON file (as an operator's -e @file), and env
    over the usual environment."""
    vars_file = tmp_path / f"vars-{time.monotonic_ns()}.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = ansible_env(**aws_env(), **(env or {}))
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            str(playbook),
            "-e",
            f"@{vars_file}",
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr)


def provision_and_dump(
    inventory: Path, tmp_path: Path, variables: dict[str, object], name: str
) -> tuple[Run, dict]:
    """The real provision playbook plus a play that dumps what it published (playbooks/
    provision-and-dump.yml); it must succeed. The run and the dump (keys provisioned, host)."""
    dump = tmp_path / f"{name}.json"
    run = run_playbook(
        HERE / "playbooks" / "provision-and-dump.yml",
        inventory,
        tmp_path,
        {**variables, "dump_path": str(dump)},
    )
    assert run.rc == 0, run.output[-4000:]
    return run, json.loads(dump.read_text())


def provision_vars(
    endpoint: str, public_key: Path, environment: str, **overrides: object
) -> dict[str, object]:
    """The variables of a provision run on the emulator; each test module uses its own environment tag."""
    return {
        "ec2_instance_endpoint_url": endpoint,
        "ec2_instance_region": REGION,
        "ec2_instance_environment": environment,
        "ec2_instance_public_key_file": str(public_key),
        "ec2_instance_ssh_cidrs": SSH_CIDRS,
        "ec2_instance_app_cidrs": APP_CIDRS,
        "ec2_instance_tags": {"Owner": "aws-tests"},
        "ec2_instance_wait_for_ssh": False,
        # Known hosts of the module's own, never the inventory's (the pinning runs only with the wait).
        "ec2_instance_known_hosts_file": str(public_key.parent / "known_hosts"),
        **overrides,
    }


def tagged(items: list[dict], **tags: str) -> list[dict]:
    """The items (instances, addresses, volumes, groups) carrying all of the given tags."""

    def has(item: dict) -> bool:
        present = {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
        return all(present.get(key) == value for key, value in tags.items())

    return [item for item in items if has(item)]


def instances(ec2, **tags: str) -> list[dict]:
    found = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    return tagged(found, **tags)
