"""Helpers for the AWS provisioning tests: moto's server on a free 127.0.0.1 port, boto3 on it, and a
runner for the real ansible-playbook against it (dummy credentials, region us-east-1)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from support.aws import REGION, aws_client, aws_env
from support.moto_server import moto_server as any_moto_server
from support.playbook import ansible_playbook, vars_file

HERE = Path(__file__).resolve().parent
# Operator networks of the tests (documentation ranges, RFC 5737 / RFC 3849).
SSH_CIDRS = ["203.0.113.7/32", "2001:db8::/64"]
APP_CIDRS = ["198.51.100.0/24"]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


# moto's server made AWS-like in the few answers the role relies on (support/moto_like_aws.py).
moto_server = partial(any_moto_server, like_aws=True)


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
    proc = ansible_playbook(
        "-i",
        inventory,
        playbook,
        "-e",
        vars_file(tmp_path, extra_vars),
        *args,
        env={**aws_env(), **(env or {})},
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
