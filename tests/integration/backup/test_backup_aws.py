"""The backup role's AWS steps against moto: S3 upload, tagged snapshots, pruning only our own."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from backup_helpers import HERE, moto_instance
from botocore.exceptions import ClientError
from support.hostkit import VENV_BIN
from support.playbook import run_playbook

PLAYBOOK = HERE / "playbooks" / "aws-parts.yml"
LOCAL = ("-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}")


def test_s3_upload_lands_the_object_encrypted(aws: dict, tmp_path: Path) -> None:
    aws["s3"].create_bucket(Bucket="webapp-backups")
    run_playbook(
        PLAYBOOK,
        *LOCAL,
        extra_vars={
            "work_dir": str(tmp_path),
            "release": "r1",
            "backup_s3_bucket": "webapp-backups",
            "backup_s3_prefix": "prod/",
            "backup_aws_endpoint_url": aws["endpoint"],
            "backup_aws_region": "us-east-1",
        },
    )
    key = "prod/localhost/webapp-20260101T000000Z-r1.db"
    head = aws["s3"].head_object(Bucket="webapp-backups", Key=key)
    body = aws["s3"].get_object(Bucket="webapp-backups", Key=key)["Body"].read()
    local = (tmp_path / "webapp-20260101T000000Z-r1.db").read_bytes()
    assert body == local
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["sha256"] == hashlib.sha256(local).hexdigest()
    assert head["Metadata"]["release"] == "r1"
    checksum = aws["s3"].get_object(Bucket="webapp-backups", Key=key + ".sha256")["Body"].read().decode()
    assert checksum.split()[0] == hashlib.sha256(local).hexdigest()
    # The controller's staging copy is gone.
    assert not list(Path("/tmp").glob("webapp-backup-*/webapp-20260101T000000Z-r1.db"))
    # Without backup_s3_expire_days the bucket's lifecycle is left alone.
    with pytest.raises(ClientError, match="NoSuchLifecycleConfiguration"):
        aws["s3"].get_bucket_lifecycle_configuration(Bucket="webapp-backups")


def test_s3_expiry_rule_is_ours_alone_and_set_once(aws: dict, tmp_path: Path) -> None:
    s3 = aws["s3"]
    s3.create_bucket(Bucket="webapp-backups")
    theirs = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 400}}
    s3.put_bucket_lifecycle_configuration(Bucket="webapp-backups", LifecycleConfiguration={"Rules": [theirs]})
    extra = {
        "work_dir": str(tmp_path),
        "release": "r1",
        "backup_s3_bucket": "webapp-backups",
        "backup_s3_prefix": "prod/",
        "backup_s3_expire_days": 30,
        "backup_aws_endpoint_url": aws["endpoint"],
        "backup_aws_region": "us-east-1",
    }
    runs = [run_playbook(PLAYBOOK, *LOCAL, extra_vars=extra) for _ in range(2)]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="webapp-backups")["Rules"]}
    assert set(rules) == {"logs", "webapp-backup-expiry-prod"}
    assert rules["logs"]["Expiration"] == {"Days": 400}
    ours = rules["webapp-backup-expiry-prod"]
    assert ours["Expiration"] == {"Days": 30}
    assert ours["Status"] == "Enabled"
    assert ours["Filter"].get("Prefix", ours.get("Prefix")) == "prod/"
    task = "TASK [backup : Expire old backups under the prefix with a bucket lifecycle rule]"
    outcome = [run.stdout.split(task, 1)[1].lstrip(" *\n").split(":", 1)[0] for run in runs]
    assert outcome == ["changed", "ok"]


def _snapshots(ec2: object, volume_id: str) -> list[dict]:
    found = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    return found["Snapshots"]


def test_snapshots_are_tagged_and_pruned_to_the_newest_of_ours(aws: dict, tmp_path: Path) -> None:
    ec2 = aws["ec2"]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    other_volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]

    def foreign(vol: str, tags: dict[str, str]) -> str:
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        spec = [{"ResourceType": "snapshot", "Tags": tag_list}] if tags else []
        return ec2.create_snapshot(VolumeId=vol, Description="not ours", TagSpecifications=spec)["SnapshotId"]

    # Snapshots the role must never touch: untagged, same Project but another owner tool, ours but of
    # another volume, and ours by ManagedBy but another project.
    old = {"BackupTime": "2000-01-01T00:00:00.000000Z"}
    untouchable = {
        foreign(volume, {}),
        foreign(volume, {"Project": "webapp", "ManagedBy": "someone-else", **old}),
        foreign(other_volume, {"Project": "webapp", "ManagedBy": "ansible-webapp-backup", **old}),
        foreign(volume, {"Project": "other", "ManagedBy": "ansible-webapp-backup", **old}),
    }
    keep, runs = 3, 5
    common = {
        "work_dir": str(tmp_path),
        "backup_snapshot_volume_id": volume,
        "backup_snapshot_keep": keep,
        "backup_aws_endpoint_url": aws["endpoint"],
        "backup_aws_region": "us-east-1",
    }
    run_playbook(PLAYBOOK, *LOCAL, extra_vars={**common, "release": "r1", "runs": 2})
    first_two = {s["SnapshotId"] for s in _snapshots(ec2, volume)} - untouchable
    run_playbook(PLAYBOOK, *LOCAL, extra_vars={**common, "release": "r2", "runs": runs - 2})

    remaining = {s["SnapshotId"]: s for s in _snapshots(ec2, volume)}
    remaining.update({s["SnapshotId"]: s for s in _snapshots(ec2, other_volume)})
    assert untouchable <= set(remaining), "a snapshot the role does not own was deleted"
    ours = {sid: s for sid, s in remaining.items() if sid not in untouchable}
    assert len(ours) == keep
    # The survivors are the newest: all three from the second run (release r2), none of the first two.
    assert not first_two & set(ours)
    for snap in ours.values():
        tags = {t["Key"]: t["Value"] for t in snap.get("Tags", [])}
        assert tags["Release"] == "r2"
        assert tags["Project"] == "webapp"
        assert tags["ManagedBy"] == "ansible-webapp-backup"
        assert tags["BackupHost"] == "localhost"
        assert tags["BackupFile"] == "webapp-20260101T000000Z-r1.db"
        assert "release r2" in snap["Description"]
        assert snap["VolumeId"] == volume


def test_aws_steps_are_skipped_when_not_configured(aws: dict, tmp_path: Path) -> None:
    proc = run_playbook(PLAYBOOK, *LOCAL, extra_vars={"work_dir": str(tmp_path), "release": "r1", "runs": 1})
    assert "TASK [Upload to S3]" in proc.stdout
    assert "backup : " not in proc.stdout, "a role step ran although nothing was configured"
    assert aws["s3"].list_buckets()["Buckets"] == []
    ours = [{"Name": "tag:ManagedBy", "Values": ["ansible-webapp-backup"]}]
    assert aws["ec2"].describe_snapshots(Filters=ours)["Snapshots"] == []


SNAPSHOT_PLAYBOOK = HERE / "playbooks" / "snapshot-volume.yml"


def test_snapshot_restore_volume_is_made_attached_and_removed(aws: dict, tmp_path: Path) -> None:
    ec2 = aws["ec2"]
    zone = "us-east-1b"
    instance = moto_instance(ec2, zone)
    data = ec2.create_volume(AvailabilityZone=zone, Size=2, Encrypted=True)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=data)["SnapshotId"]
    volume_file = tmp_path / "volume-id"
    common = {
        "backup_restore_snapshot_id": snapshot,
        "backup_restore_instance_id": instance,
        "backup_restore_device_name": "/dev/sdg",
        "backup_aws_endpoint_url": aws["endpoint"],
        "backup_aws_region": "us-east-1",
        "volume_file": str(volume_file),
    }
    run_playbook(SNAPSHOT_PLAYBOOK, *LOCAL, extra_vars={**common, "step": "attach"})
    volume_id = volume_file.read_text().strip()
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert volume["SnapshotId"] == snapshot
    assert volume["AvailabilityZone"] == zone
    assert volume["Encrypted"] is True
    assert [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]] == [(instance, "/dev/sdg")]
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["Purpose"] == "restore"
    assert tags["ManagedBy"] == "ansible-webapp-backup"

    run_playbook(SNAPSHOT_PLAYBOOK, *LOCAL, extra_vars={**common, "step": "remove"})
    left = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Volumes"]
    assert left == []
    # The source volume and snapshot are untouched.
    assert ec2.describe_volumes(VolumeIds=[data])["Volumes"][0]["State"] in ("available", "in-use")
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]


def test_snapshot_restore_refuses_an_unknown_snapshot(aws: dict, tmp_path: Path) -> None:
    ec2 = aws["ec2"]
    instance = moto_instance(ec2, "us-east-1b")
    before = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    proc = run_playbook(
        SNAPSHOT_PLAYBOOK,
        *LOCAL,
        extra_vars={
            "backup_restore_snapshot_id": "snap-0123456789abcdef0",
            "backup_restore_instance_id": instance,
            "backup_aws_endpoint_url": aws["endpoint"],
            "backup_aws_region": "us-east-1",
            "volume_file": str(tmp_path / "volume-id"),
        },
        check=False,
    )
    assert proc.returncode != 0
    assert "Not restoring: snapshot snap-0123456789abcdef0 was not found" in proc.stdout
    assert "nothing was changed" in proc.stdout
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == before
