"""Bad variables stop playbooks/provision.yml in its validation play, before any AWS call: the emulator
(one of its own, so nothing else writes to it) holds no resource afterwards (EC2, IAM, S3, SSM, SNS,
CloudWatch), and the message says what to change. Among them the bad inventories of the instance's own
AWS side: an invalid bucket name, a malformed alarm e-mail, a parameter path outside the project's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aws_helpers import aws_client, ec2_client, moto_server, provision_vars, run_playbook
from support.hostkit import ROOT as REPO

TASKS = REPO / "roles" / "ec2_instance" / "tasks"
# What may run before the first AWS call: the validation play's (the role's preflight rules, with the host
# provision adds declared first) and nothing else.
PREFLIGHT = [TASKS / "preflight.yml", TASKS / "preflight-aws.yml", TASKS / "declare.yml"]

PRIVATE_KEY_TEXT = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
)

# id -> (variables over the good ones, phrases the failure message must contain)
CASES: dict[str, tuple[dict[str, object], list[str]]] = {
    "world-ssh-ipv4": (
        {"ec2_instance_ssh_cidrs": ["0.0.0.0/0"]},
        ["0.0.0.0/0", "ec2_instance_allow_world_ssh=true"],
    ),
    "world-ssh-ipv6": (
        {"ec2_instance_ssh_cidrs": ["203.0.113.7/32", "::/0"]},
        ["::/0", "ec2_instance_allow_world_ssh=true"],
    ),
    "cidr-host-bits": ({"ec2_instance_ssh_cidrs": ["10.1.2.3/16"]}, ["host bits", "10.1.0.0/16"]),
    "cidr-garbage": ({"ec2_instance_ssh_cidrs": ["office"]}, ["'office' is not an IPv4 or IPv6 CIDR"]),
    "cidr-no-prefix": ({"ec2_instance_ssh_cidrs": ["203.0.113.7"]}, ["203.0.113.7/32"]),
    "ssh-cidrs-empty": (
        {"ec2_instance_ssh_cidrs": []},
        ["Set ec2_instance_ssh_cidrs", "nobody could reach SSH"],
    ),
    "app-cidr-bad": ({"ec2_instance_app_cidrs": ["0.0.0.0/33"]}, ["ec2_instance_app_cidrs", "0.0.0.0/33"]),
    "key-file-missing": (
        {"ec2_instance_public_key_file": "/nonexistent/id_ed25519.pub"},
        ["/nonexistent/id_ed25519.pub", "not a file", "ssh-keygen"],
    ),
    "key-none": (
        {"ec2_instance_public_key_file": ""},
        ["Set exactly one of ec2_instance_public_key_file", "neither"],
    ),
    "key-private": (
        {"ec2_instance_public_key_file": "", "ec2_instance_public_key": PRIVATE_KEY_TEXT},
        ["PRIVATE key", ".pub"],
    ),
    "root-volume-too-small": (
        {"ec2_instance_root_volume_size": 4},
        ["ec2_instance_root_volume_size must be 8"],
    ),
    "data-volume-too-big": (
        {"ec2_instance_data_volume_size": 20000},
        ["ec2_instance_data_volume_size 1 to 16384"],
    ),
    "data-device-root": ({"ec2_instance_data_device_name": "/dev/xvda"}, ["such as /dev/sdf", "/dev/xvda"]),
    "reserved-tag": ({"ec2_instance_tags": {"Environment": "prod"}}, ["ec2_instance_tags must not set"]),
    "bucket-uppercase": (
        {"ec2_instance_backup_bucket": "Webapp_Backups"},
        ["may hold only lowercase letters, digits and hyphens", "'webapp-backups'"],
    ),
    "backup-prefix-wildcard": (
        {"ec2_instance_backup_prefix": "webapp/*/"},
        ["without a leading / or a *", "got 'webapp/*/'"],
    ),
    "bucket-dotted": ({"ec2_instance_backup_bucket": "backups.example.com"}, ["has a dot", "use hyphens"]),
    "bucket-ip": ({"ec2_instance_backup_bucket": "192.168.5.4"}, ["formatted as an IP address"]),
    "bucket-too-short": ({"ec2_instance_backup_bucket": "ab"}, ["has 2 characters", "3 to 63"]),
    "alarm-email-two": (
        {"ec2_instance_alarm_email": "ops@example.com, dev@example.com"},
        ["is not one e-mail address", "ops@example.com"],
    ),
    "alarm-email-no-domain": ({"ec2_instance_alarm_email": "ops@localhost"}, ["is not one e-mail address"]),
    "alarm-email-name": (
        {"ec2_instance_alarm_email": "Ops <ops@example.com>"},
        ["is not one e-mail address"],
    ),
    "parameter-path-other-project": (
        {"ec2_instance_parameter_path": "/billing/preflight-test/"},
        ["outside this project's '/webapp/preflight-test/'", "the instance may read only its own settings"],
    ),
    "parameter-path-parent": (
        {"ec2_instance_parameter_path": "/webapp/"},
        ["outside this project's '/webapp/preflight-test/'"],
    ),
    "parameter-path-no-slash": (
        {"ec2_instance_parameter_path": "/webapp/preflight-test/app"},
        ["must end with '/'"],
    ),
    "metric-namespace-aws": (
        {"ec2_instance_metric_namespace": "AWS/EC2"},
        ["ec2_instance_metric_namespace must be a CloudWatch namespace not starting with AWS/"],
    ),
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def empty_account(endpoint: str) -> dict[str, int]:
    """What an untouched emulator account holds (its default VPC, subnets and security group)."""
    return snapshot(endpoint)


def snapshot(endpoint: str) -> dict[str, int]:
    ec2 = ec2_client(endpoint)
    return {
        "key_pairs": len(ec2.describe_key_pairs()["KeyPairs"]),
        "security_groups": len(ec2.describe_security_groups()["SecurityGroups"]),
        "instances": sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]),
        "addresses": len(ec2.describe_addresses()["Addresses"]),
        "volumes": len(ec2.describe_volumes()["Volumes"]),
        "roles": len(aws_client("iam", endpoint).list_roles()["Roles"]),
        "instance_profiles": len(aws_client("iam", endpoint).list_instance_profiles()["InstanceProfiles"]),
        "buckets": len(aws_client("s3", endpoint).list_buckets()["Buckets"]),
        "parameters": len(aws_client("ssm", endpoint).describe_parameters()["Parameters"]),
        "topics": len(aws_client("sns", endpoint).list_topics()["Topics"]),
        "alarms": len(aws_client("cloudwatch", endpoint).describe_alarms()["MetricAlarms"]),
    }


@pytest.mark.parametrize("case", list(CASES))
def test_bad_variables_fail_in_preflight(
    case: str, endpoint: str, empty_account: dict, ssh_key: Path, inventory: Path, tmp_path: Path
):
    overrides, phrases = CASES[case]
    variables = provision_vars(endpoint, ssh_key, "preflight-test", **overrides)
    run = run_playbook(REPO / "playbooks" / "provision.yml", inventory, tmp_path, variables)
    assert run.rc != 0
    assert run.recap["failed"] == 1
    # Only argument validation and preflight tasks ran: no task that talks to AWS was reached.
    allowed = {task["name"] for path in PREFLIGHT for task in yaml.safe_load(path.read_text())}
    ran = re.findall(r"^TASK \[ec2_instance : (.+?)\] \*", run.output, re.M)
    assert ran, run.output[-2500:]
    assert [name for name in ran if name not in allowed and not name.startswith("Validating arguments")] == []
    message = " ".join(run.output.split())  # the YAML callback folds long messages
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in the failure:\n{run.output[-2500:]}"
    assert snapshot(endpoint) == empty_account
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in run.output  # a private key given by mistake is never echoed
