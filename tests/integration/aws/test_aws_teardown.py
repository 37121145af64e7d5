"""playbooks/teardown.yml against moto: it asks for confirmation, terminates the instance found by its tags,
keeps the data volume and the Elastic IP (which the next provision reuses), and releases or deletes them
only when asked. The tests run in order on one instance lifecycle (environment tag "teardown-test")."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_helpers import instances, run_playbook, tagged
from support.hostkit import ROOT as REPO

pytestmark = pytest.mark.slow

ENVIRONMENT = "teardown-test"
IDENTITY = {"Name": "webapp", "Project": "webapp", "Environment": ENVIRONMENT, "ManagedBy": "ansible"}
PROVISION = REPO / "playbooks" / "provision.yml"
TEARDOWN = REPO / "playbooks" / "teardown.yml"


@pytest.fixture(scope="module")
def first(variables: dict, inventory: Path, workdir: Path, ec2) -> dict:
    """The provisioned instance (data volume id, Elastic IP) the teardown tests work on."""
    run = run_playbook(PROVISION, inventory, workdir, variables)
    assert run.rc == 0, run.output[-4000:]
    return current(ec2)


def current(ec2) -> dict:
    (instance,) = [i for i in instances(ec2, **IDENTITY) if i["State"]["Name"] == "running"]
    data = next(
        m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"
    )
    (address,) = tagged(ec2.describe_addresses()["Addresses"], **IDENTITY)
    return {"instance_id": instance["InstanceId"], "data_volume_id": data, "public_ip": address["PublicIp"]}


def state(ec2, instance_id: str) -> str:
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservation["Instances"][0]["State"]["Name"]


def volume_state(ec2, volume_id: str) -> str | None:
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Volumes"]
    return found[0]["State"] if found else None


def test_teardown_refuses_without_confirmation(first, variables, inventory, workdir, ec2):
    run = run_playbook(TEARDOWN, inventory, workdir, {**variables, "confirm_teardown": "no"})
    assert run.rc != 0
    message = " ".join(run.output.split())
    assert "Re-run with -e confirm_teardown=yes" in message
    assert f"Environment={ENVIRONMENT}" in message
    assert state(ec2, first["instance_id"]) == "running"


def test_teardown_terminates_and_keeps_the_data_volume_and_the_address(
    first, variables, inventory, workdir, ec2
):
    # The instance's pinned host key, and another host's that must stay.
    known_hosts = Path(variables["ec2_instance_known_hosts_file"])
    other = "198.51.100.99 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther\n"
    known_hosts.write_text(f"{first['public_ip']} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinned\n" + other)
    run = run_playbook(TEARDOWN, inventory, workdir, {**variables, "confirm_teardown": "yes"})
    assert run.rc == 0, run.output[-4000:]
    assert state(ec2, first["instance_id"]) == "terminated"
    assert volume_state(ec2, first["data_volume_id"]) == "available"
    assert [a["PublicIp"] for a in tagged(ec2.describe_addresses()["Addresses"], **IDENTITY)] == [
        first["public_ip"]
    ]
    # The address stays, but the next instance behind it has keys of its own: the entry is forgotten.
    assert known_hosts.read_text() == other


def test_teardown_again_finds_nothing_to_do(first, variables, inventory, workdir):
    run = run_playbook(TEARDOWN, inventory, workdir, {**variables, "confirm_teardown": "yes"})
    assert run.rc == 0, run.output[-4000:]
    assert run.recap["changed"] == 0
    assert "no instance found" in " ".join(run.output.split())


def test_provision_after_teardown_reuses_the_elastic_ip_and_the_data_volume(
    first, variables, inventory, workdir, ec2
):
    run = run_playbook(PROVISION, inventory, workdir, variables)
    assert run.rc == 0, run.output[-4000:]
    again = current(ec2)
    assert again["instance_id"] != first["instance_id"]
    assert again["public_ip"] == first["public_ip"]
    assert len(tagged(ec2.describe_addresses()["Addresses"], **IDENTITY)) == 1
    # test_aws_data_volume_reuse.py covers the reattachment itself.
    assert again["data_volume_id"] == first["data_volume_id"]


def test_teardown_releases_and_deletes_only_when_asked(first, variables, inventory, workdir, ec2):
    second = current(ec2)
    # Another kept data volume, attached to nothing: only the instance's own one may be deleted.
    spare = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=1,
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": [{"Key": k, "Value": v} for k, v in {**IDENTITY, "VolumeRole": "data"}.items()],
            }
        ],
    )["VolumeId"]
    run = run_playbook(
        TEARDOWN,
        inventory,
        workdir,
        {
            **variables,
            "confirm_teardown": "yes",
            "ec2_teardown_release_eip": True,
            "ec2_teardown_delete_data_volume": True,
        },
    )
    assert run.rc == 0, run.output[-4000:]
    assert state(ec2, second["instance_id"]) == "terminated"
    assert tagged(ec2.describe_addresses()["Addresses"], **IDENTITY) == []
    assert volume_state(ec2, second["data_volume_id"]) is None
    assert volume_state(ec2, spare) == "available"
