"""The data volume a teardown keeps comes back: the next provision attaches it to the new instance at
ec2_instance_data_device_name instead of creating an empty one; ec2_instance_data_volume_id chooses among
several kept volumes; a choice that cannot work fails before anything is launched.

moto's volumes are API objects only (nothing can be written to them), so "the same data" is checked as
"the same volume id". Each scenario keeps to its own Environment tag on the session's emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_helpers import instances, provision_and_dump, provision_vars, run_playbook, tagged
from support.hostkit import ROOT as REPO

pytestmark = pytest.mark.slow

PROVISION = REPO / "playbooks" / "provision.yml"
TEARDOWN = REPO / "playbooks" / "teardown.yml"
DEVICE = "/dev/sdf"


def identity(environment: str) -> dict[str, str]:
    return {"Name": "webapp", "Project": "webapp", "Environment": environment, "ManagedBy": "ansible"}


def live(ec2, environment: str) -> list[dict]:
    return [i for i in instances(ec2, **identity(environment)) if i["State"]["Name"] != "terminated"]


def attached(instance: dict) -> dict:
    """The block device mapping at the data device."""
    (mapping,) = [m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == DEVICE]
    return mapping["Ebs"]


def data_volumes(ec2, environment: str) -> list[dict]:
    return tagged(ec2.describe_volumes()["Volumes"], **identity(environment), VolumeRole="data")


def make_volume(ec2, environment: str, zone: str) -> str:
    """A data volume as a teardown leaves it: available, with the role's tags."""
    tags = [{"Key": k, "Value": v} for k, v in {**identity(environment), "VolumeRole": "data"}.items()]
    volume = ec2.create_volume(
        AvailabilityZone=zone,
        Size=20,
        VolumeType="gp3",
        Encrypted=True,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
    )
    return volume["VolumeId"]


def default_subnet(ec2, zone: str) -> str:
    (subnet,) = ec2.describe_subnets(
        Filters=[
            {"Name": "availability-zone", "Values": [zone]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    return subnet["SubnetId"]


def one_line(output: str) -> str:
    return " ".join(output.split())


# --- provision, teardown, provision: the kept volume comes back ---------------------------------------

REUSE = "reuse-test"


@pytest.fixture(scope="module")
def reuse_vars(moto_endpoint: str, ssh_key: Path) -> dict[str, object]:
    return provision_vars(moto_endpoint, ssh_key, REUSE)


@pytest.fixture(scope="module")
def kept(reuse_vars, inventory, workdir, ec2) -> dict:
    """The first instance's data volume, left available by a teardown."""
    run = run_playbook(PROVISION, inventory, workdir, reuse_vars)
    assert run.rc == 0, run.output[-4000:]
    (first,) = live(ec2, REUSE)
    run = run_playbook(TEARDOWN, inventory, workdir, {**reuse_vars, "confirm_teardown": "yes"})
    assert run.rc == 0, run.output[-4000:]
    volume_id = attached(first)["VolumeId"]
    (volume,) = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert volume["State"] == "available"
    return {"instance_id": first["InstanceId"], "volume_id": volume_id, "zone": volume["AvailabilityZone"]}


@pytest.fixture(scope="module")
def reprovisioned(kept, reuse_vars, inventory, workdir, ec2) -> dict:
    _, dump = provision_and_dump(inventory, workdir, reuse_vars, "reprovisioned")
    (instance,) = live(ec2, REUSE)
    return {"instance": instance, "facts": dump["provisioned"]}


def test_the_new_instance_has_the_kept_data_volume_at_the_data_device(kept, reprovisioned):
    instance = reprovisioned["instance"]
    assert instance["InstanceId"] != kept["instance_id"]
    ebs = attached(instance)
    assert ebs["VolumeId"] == kept["volume_id"]
    assert ebs["DeleteOnTermination"] is False
    assert instance["Placement"]["AvailabilityZone"] == kept["zone"]


def test_no_new_data_volume_is_created(kept, reprovisioned, ec2):
    assert [v["VolumeId"] for v in data_volumes(ec2, REUSE)] == [kept["volume_id"]]
    (volume,) = ec2.describe_volumes(VolumeIds=[kept["volume_id"]])["Volumes"]
    assert volume["State"] == "in-use"
    assert [a["InstanceId"] for a in volume["Attachments"]] == [reprovisioned["instance"]["InstanceId"]]
    # Only the root volume besides it: the launch left the data volume out of its mappings.
    assert len(reprovisioned["instance"]["BlockDeviceMappings"]) == 2


def test_published_facts_name_the_kept_volume(kept, reprovisioned):
    facts = reprovisioned["facts"]
    assert facts["data_volume_id"] == kept["volume_id"]
    assert facts["data_device_by_id"].endswith(kept["volume_id"].replace("-", ""))
    assert facts["availability_zone"] == kept["zone"]


def test_provision_again_changes_nothing(reprovisioned, reuse_vars, inventory, workdir, ec2):
    run = run_playbook(PROVISION, inventory, workdir, reuse_vars)
    assert run.rc == 0, run.output[-4000:]
    assert run.recap["changed"] == 0, run.output[-4000:]
    (instance,) = live(ec2, REUSE)
    assert instance["InstanceId"] == reprovisioned["instance"]["InstanceId"]


# --- several kept volumes: a clear failure, then a choice by id -----------------------------------------

PIN = "pin-test"


@pytest.fixture(scope="module")
def pin_vars(moto_endpoint: str, ssh_key: Path) -> dict[str, object]:
    return provision_vars(moto_endpoint, ssh_key, PIN)


@pytest.fixture(scope="module")
def two_kept(ec2) -> list[str]:
    return [make_volume(ec2, PIN, "us-east-1a"), make_volume(ec2, PIN, "us-east-1b")]


def test_two_kept_volumes_fail_before_launch_naming_both(two_kept, pin_vars, inventory, workdir, ec2):
    run = run_playbook(PROVISION, inventory, workdir, pin_vars)
    assert run.rc != 0
    message = one_line(run.output)
    assert "2 available data volumes are tagged for webapp" in message
    for volume_id, zone in zip(two_kept, ("us-east-1a", "us-east-1b"), strict=True):
        assert f"{volume_id} ({zone}, 20 GiB" in message
    assert "-e ec2_instance_data_volume_id=vol-..." in message
    assert live(ec2, PIN) == []
    assert len(data_volumes(ec2, PIN)) == 2


def test_pinned_volume_is_attached_in_its_zone(two_kept, pin_vars, inventory, workdir, ec2):
    chosen, other = two_kept[1], two_kept[0]
    run = run_playbook(PROVISION, inventory, workdir, {**pin_vars, "ec2_instance_data_volume_id": chosen})
    assert run.rc == 0, run.output[-4000:]
    (instance,) = live(ec2, PIN)
    assert attached(instance)["VolumeId"] == chosen
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert instance["SubnetId"] == default_subnet(ec2, "us-east-1b")
    (left,) = ec2.describe_volumes(VolumeIds=[other])["Volumes"]
    assert left["State"] == "available"
    assert len(data_volumes(ec2, PIN)) == 2

    again = run_playbook(PROVISION, inventory, workdir, {**pin_vars, "ec2_instance_data_volume_id": chosen})
    assert again.rc == 0, again.output[-4000:]
    assert again.recap["changed"] == 0, again.output[-4000:]


def test_pin_naming_another_volume_than_the_running_instance_has_fails(
    two_kept, pin_vars, inventory, workdir, ec2
):
    run = run_playbook(
        PROVISION, inventory, workdir, {**pin_vars, "ec2_instance_data_volume_id": two_kept[0]}
    )
    assert run.rc != 0
    message = one_line(run.output)
    assert f"ec2_instance_data_volume_id pins {two_kept[0]}" in message
    assert f"has {two_kept[1]} at {DEVICE}" in message


# --- choices that cannot work fail before launch ----------------------------------------------------

ZONE = "zone-test"


@pytest.fixture(scope="module")
def zone_vars(moto_endpoint: str, ssh_key: Path) -> dict[str, object]:
    return provision_vars(moto_endpoint, ssh_key, ZONE)


def test_kept_volume_in_another_zone_than_the_given_subnet_fails(zone_vars, inventory, workdir, ec2):
    volume_id = make_volume(ec2, ZONE, "us-east-1c")
    subnet = default_subnet(ec2, "us-east-1a")
    run = run_playbook(PROVISION, inventory, workdir, {**zone_vars, "ec2_instance_vpc_subnet_id": subnet})
    assert run.rc != 0
    message = one_line(run.output)
    assert f"The data volume {volume_id} is in us-east-1c" in message
    assert f"ec2_instance_vpc_subnet_id={subnet} is in us-east-1a" in message
    assert "Nothing was launched" in message
    assert live(ec2, ZONE) == []


def test_pinned_volume_that_does_not_exist_fails(zone_vars, inventory, workdir, ec2):
    missing = "vol-0123456789abcdef0"
    run = run_playbook(PROVISION, inventory, workdir, {**zone_vars, "ec2_instance_data_volume_id": missing})
    assert run.rc != 0
    assert f"ec2_instance_data_volume_id={missing} does not exist in us-east-1" in one_line(run.output)
    assert live(ec2, ZONE) == []


def test_pinned_volume_in_use_fails(reprovisioned, zone_vars, inventory, workdir, ec2):
    busy = attached(reprovisioned["instance"])["VolumeId"]
    run = run_playbook(PROVISION, inventory, workdir, {**zone_vars, "ec2_instance_data_volume_id": busy})
    assert run.rc != 0
    message = one_line(run.output)
    assert f"ec2_instance_data_volume_id={busy} is in-use" in message
    assert reprovisioned["instance"]["InstanceId"] in message
    assert live(ec2, ZONE) == []


def test_malformed_volume_id_is_refused_by_preflight(zone_vars, inventory, workdir):
    run = run_playbook(PROVISION, inventory, workdir, {**zone_vars, "ec2_instance_data_volume_id": "data"})
    assert run.rc != 0
    assert "a volume id like vol-0123456789abcdef0 (got 'data')" in one_line(run.output)
