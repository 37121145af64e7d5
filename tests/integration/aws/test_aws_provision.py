"""playbooks/provision.yml against moto: what it creates, exactly, and that a second run changes nothing.

One provision per module (environment tag "provision-test"); every test reads the emulator with boto3."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_helpers import APP_CIDRS, HERE, SSH_CIDRS, instances, provision_and_dump, run_playbook, tagged
from support.hostkit import ROOT as REPO
from support.hostkit import ssh_greeter

pytestmark = pytest.mark.slow

ENVIRONMENT = "provision-test"
IDENTITY = {"Name": "webapp", "Project": "webapp", "Environment": ENVIRONMENT, "ManagedBy": "ansible"}


@pytest.fixture(scope="module")
def first_run(variables: dict, inventory: Path, workdir: Path) -> dict:
    """The first provision (the real playbook plus a play that dumps the published facts)."""
    run, dump = provision_and_dump(inventory, workdir, variables, "provisioned")
    assert run.recap["changed"] > 0
    return dump


@pytest.fixture(scope="module")
def instance(first_run: dict, ec2) -> dict:
    found = instances(ec2, **IDENTITY)
    assert len(found) == 1, found
    assert found[0]["InstanceId"] == first_run["provisioned"]["instance_id"]
    return found[0]


@pytest.fixture(scope="module")
def security_group(instance: dict, ec2) -> dict:
    (group_ref,) = instance["SecurityGroups"]
    (group,) = ec2.describe_security_groups(GroupIds=[group_ref["GroupId"]])["SecurityGroups"]
    return group


def permission_sources(permissions: list[dict]) -> set[tuple]:
    """(protocol, from, to, source) for every source of every rule."""
    result = set()
    for perm in permissions:
        ports = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        result |= {(*ports, r["CidrIp"]) for r in perm.get("IpRanges", [])}
        result |= {(*ports, r["CidrIpv6"]) for r in perm.get("Ipv6Ranges", [])}
        result |= {(*ports, g["GroupId"]) for g in perm.get("UserIdGroupPairs", [])}
        result |= {(*ports, p["PrefixListId"]) for p in perm.get("PrefixListIds", [])}
    return result


def test_security_group_allows_ssh_from_operators_and_the_app_port_only(security_group):
    expected = {("tcp", 22, 22, cidr) for cidr in SSH_CIDRS} | {
        ("tcp", 8000, 8000, cidr) for cidr in APP_CIDRS
    }
    assert permission_sources(security_group["IpPermissions"]) == expected
    assert security_group["GroupName"] == f"webapp-{ENVIRONMENT}"


def test_security_group_keeps_the_default_egress(security_group):
    assert permission_sources(security_group["IpPermissionsEgress"]) == {("-1", None, None, "0.0.0.0/0")}


def test_instance_requires_imdsv2(instance):
    options = instance["MetadataOptions"]
    assert options["HttpTokens"] == "required"
    assert options["HttpEndpoint"] == "enabled"
    assert options["HttpPutResponseHopLimit"] == 1


def test_instance_runs_with_its_instance_profile(instance, first_run):
    profile = instance["IamInstanceProfile"]["Arn"]
    assert profile == f"arn:aws:iam::123456789012:instance-profile/webapp-{ENVIRONMENT}-instance"
    assert first_run["provisioned"]["instance_profile"] == f"webapp-{ENVIRONMENT}-instance"


def test_instance_type_key_and_tags(instance):
    assert instance["InstanceType"] == "t3.small"
    assert instance["KeyName"] == f"webapp-{ENVIRONMENT}"
    assert {t["Key"]: t["Value"] for t in instance["Tags"]} == {**IDENTITY, "Owner": "aws-tests"}


def test_instance_runs_the_newest_al2023_image(instance, ec2):
    (image,) = ec2.describe_images(ImageIds=[instance["ImageId"]])["Images"]
    assert fnmatch.fnmatchcase(image["Name"], "al2023-ami-2023.*-x86_64"), image["Name"]
    assert image["Architecture"] == "x86_64"
    candidates = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023.*-x86_64"]}]
    )["Images"]
    newest = max(candidates, key=lambda i: (i["CreationDate"], i["Name"]))
    assert image["ImageId"] == newest["ImageId"]


def test_root_and_data_volumes_are_encrypted_gp3_and_only_root_goes_with_the_instance(instance, ec2):
    mappings = {m["DeviceName"]: m["Ebs"] for m in instance["BlockDeviceMappings"]}
    assert set(mappings) == {instance["RootDeviceName"], "/dev/sdf"}
    assert mappings[instance["RootDeviceName"]]["DeleteOnTermination"] is True
    assert mappings["/dev/sdf"]["DeleteOnTermination"] is False
    volumes = {
        v["VolumeId"]: v
        for v in ec2.describe_volumes(VolumeIds=[m["VolumeId"] for m in mappings.values()])["Volumes"]
    }
    for device, ebs in mappings.items():
        volume = volumes[ebs["VolumeId"]]
        assert volume["Encrypted"] is True, device
        assert volume["VolumeType"] == "gp3", device
        assert volume["Size"] == 20, device
    data_tags = {t["Key"]: t["Value"] for t in volumes[mappings["/dev/sdf"]["VolumeId"]]["Tags"]}
    assert data_tags["VolumeRole"] == "data"
    assert data_tags["Environment"] == ENVIRONMENT


def test_elastic_ip_is_associated_and_tagged(instance, ec2, first_run):
    addresses = tagged(ec2.describe_addresses()["Addresses"], **IDENTITY)
    assert len(addresses) == 1, addresses
    (address,) = addresses
    assert address["InstanceId"] == instance["InstanceId"]
    assert address["Domain"] == "vpc"
    assert instance["PublicIpAddress"] == address["PublicIp"] == first_run["provisioned"]["public_ip"]


def test_published_facts_and_inventory_entry(first_run, instance):
    facts = first_run["provisioned"]
    data = next(
        m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"
    )
    assert facts["instance_id"] == instance["InstanceId"]
    assert facts["data_volume_id"] == data
    assert facts["data_device_by_id"] == "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + data.replace(
        "-", ""
    )
    assert facts["region"] == "us-east-1"
    assert facts["security_group_ids"] == [g["GroupId"] for g in instance["SecurityGroups"]]
    assert first_run["groups"]["webapp"] == [f"webapp-{ENVIRONMENT}"]
    host = first_run["host"]
    assert (host["ansible_host"], host["ansible_port"], host["ansible_user"]) == (
        facts["public_ip"],
        22,
        "ec2-user",
    )
    assert host["ec2_instance_provisioned"] == facts


def test_later_plays_ssh_trusts_only_the_pinned_key(first_run, variables):
    known_hosts = variables["ec2_instance_known_hosts_file"]
    assert first_run["host"]["ansible_ssh_common_args"] == (
        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts}"
    )


def test_second_run_changes_nothing(first_run, instance, variables, inventory, workdir, ec2):
    before_groups = len(ec2.describe_security_groups()["SecurityGroups"])
    before_addresses = len(ec2.describe_addresses()["Addresses"])
    run = run_playbook(REPO / "playbooks" / "provision.yml", inventory, workdir, variables)
    assert run.rc == 0, run.output[-4000:]
    assert run.recap["changed"] == 0, run.output[-4000:]
    assert [i["InstanceId"] for i in instances(ec2, **IDENTITY) if i["State"]["Name"] != "terminated"] == [
        instance["InstanceId"]
    ]
    assert len(ec2.describe_security_groups()["SecurityGroups"]) == before_groups
    assert len(ec2.describe_addresses()["Addresses"]) == before_addresses


def test_lookup_by_tags_publishes_the_same_facts(first_run, variables, inventory, workdir):
    dump = workdir / "looked-up.json"
    run = run_playbook(
        HERE / "playbooks" / "lookup-and-dump.yml", inventory, workdir, {**variables, "dump_path": str(dump)}
    )
    assert run.rc == 0, run.output[-4000:]
    assert json.loads(dump.read_text()) == first_run


@pytest.fixture
def fake_sshd() -> Iterator[int]:
    """A loopback port that greets like OpenSSH, standing in for the rehearsal container's sshd."""
    with ssh_greeter() as port:
        yield port


def test_local_rehearsal_connects_and_waits_for_ssh_on_the_given_host_and_port(
    first_run, variables, inventory, workdir, fake_sshd
):
    rehearsal = {
        **variables,
        "ec2_instance_connect_host": "127.0.0.1",
        "ec2_instance_connect_port": fake_sshd,
        "ec2_instance_wait_for_ssh": True,
        "ec2_instance_wait_for_ssh_timeout": 30,
        # The rehearsal's container prints nothing on the emulator's console (inventory/local turns it off).
        "ec2_instance_host_key_checking": False,
    }
    run, dump = provision_and_dump(inventory, workdir, rehearsal, "rehearsal")
    assert re.search(
        r"TASK \[ec2_instance : Wait for SSH on the instance\] \*+\nok: \[localhost\]", run.output
    )
    host = dump["host"]
    assert (host["ansible_host"], host["ansible_port"]) == ("127.0.0.1", fake_sshd)
    # No ssh options of the role's: the rehearsal inventory's own apply.
    assert host["ansible_ssh_common_args"] == ""
    assert host["ec2_instance_provisioned"]["public_ip"] == first_run["provisioned"]["public_ip"]
