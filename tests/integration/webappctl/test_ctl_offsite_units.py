"""webappctl's offsite parts against moto's server on 127.0.0.1, through the same AWS CLI calls the host
makes (the venv's `aws`): the upload and its check, the age of the newest offsite backup, snapshots and
their pruning, the metrics, the failure alert; and the parts that need no AWS (settings, names,
intervals, disk use). No Docker engine needed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from support import hostkit
from support.aws import REGION, datapoints, deny_uploads
from support.aws import aws_client as client
from support.aws import aws_env as support_aws_env
from webappctl import alert, awscli, config, metrics, offsite, redact


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The credentials the CLI finds (on an instance: the role's, from the metadata service)."""
    for key, value in support_aws_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return moto_endpoint


def load(where: Path, **offsite_settings: object) -> config.Config:
    where.mkdir(parents=True, exist_ok=True)
    (where / "app.json").write_text(
        json.dumps({"data_dir": str(where), "container": {"name": f"none-{uuid.uuid4().hex[:6]}"}})
    )
    (where / "offsite.json").write_text(json.dumps(offsite_settings))
    return config.load(where)


def settings(endpoint: str, tmp: Path, **extra: object) -> dict[str, object]:
    return {
        "aws_command": str(hostkit.VENV_BIN / "aws"),
        "region": REGION,
        "endpoint_url": endpoint,
        "host": "web-1",
        "metrics_state": str(tmp / "metrics.json"),
        **extra,
    }


def a_backup(tmp: Path, name: str = "webapp-20260101T031500Z-1.4.2.db") -> dict[str, object]:
    """A backup as webappctl leaves it: the file, its .sha256 beside it, and the report."""
    path = tmp / name
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(70000))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(f"{path}.sha256").write_text(f"{sha}  {name}\n")
    return {"path": str(path), "sha256": sha, "release": "1.4.2", "revision": "abc", "created": "2026"}


# --- no AWS ---------------------------------------------------------------------------------------------


def test_offsite_settings_come_from_their_own_file(tmp_path: Path):
    cfg = load(tmp_path, bucket="b", snapshot_keep="3", dimensions={"Host": "web-1"})
    assert (cfg.offsite.bucket, cfg.offsite.snapshot_keep, cfg.offsite.dimensions) == (
        "b",
        3,
        {"Host": "web-1"},
    )
    assert cfg.offsite.metric_names["backup_age"] == "OffsiteBackupAgeSeconds"
    assert config.load_offsite(tmp_path) == cfg.offsite
    # Written by the roles: a key of another version of them is ignored (an upgrade must not stop the
    # nightly backup), a value of the wrong type is refused naming the file.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "offsite.json").write_text(json.dumps({"bucket": "b", "from_a_newer_role": 1}))
    assert config.load_offsite(tmp_path / "other").bucket == "b"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "offsite.json").write_text(json.dumps({"snapshot_keep": "many"}))
    with pytest.raises(config.ConfigError, match=r"bad/offsite\.json\.snapshot_keep must be a number"):
        config.load_offsite(tmp_path / "bad")
    (tmp_path / "bad" / "app.json").write_text("{}")
    with pytest.raises(config.ConfigError, match=r"bad/offsite\.json\.snapshot_keep must be a number"):
        config.load(tmp_path / "bad")
    # Without the file the host sends nothing, and says why for each part.
    (tmp_path / "offsite.json").unlink()
    off = config.load(tmp_path).offsite
    assert offsite.why_not(off, "upload") == "no bucket configured"
    assert offsite.why_not(off, "snapshot") == "no data volume configured"
    assert offsite.why_not(off, "metrics") == "no metric namespace configured"
    assert offsite.why_not(off, "alert") == "no alarm topic configured"
    noted = config.Offsite(note="the controller sends the backups offsite", bucket="b")
    assert offsite.why_not(noted, "upload") == "the controller sends the backups offsite"


def test_backup_times_are_read_from_names_only_for_our_backups():
    assert offsite.backup_time("webapp-20260101T031500Z-1.4.2.db", "webapp") == 1767237300.0
    assert offsite.backup_time("webapp-20260101T031500Z-r1.db.gz", "webapp") == 1767237300.0
    for other in ("webapp-20260101T031500Z-1.4.2.db.sha256", "other-20260101T031500Z-1.db", "notes.txt"):
        assert offsite.backup_time(other, "webapp") is None


def test_the_head_check_names_each_difference():
    sha = hashlib.sha256(b"x").hexdigest()
    good = {
        "ChecksumSHA256": base64.b64encode(bytes.fromhex(sha)).decode(),
        "ContentLength": 1,
        "ServerSideEncryption": "AES256",
        "Metadata": {"sha256": sha},
    }
    assert offsite.head_problems(good, sha, 1, "AES256") == []
    bad = {"ChecksumSHA256": "AAAA", "ContentLength": 2, "Metadata": {}}
    problems = offsite.head_problems(bad, sha, 1, "AES256")
    assert len(problems) == 4
    assert "SHA256 checksum is 'AAAA'" in problems[0] and "2 bytes, the file 1" in problems[1]


def test_metrics_fall_due_at_their_intervals():
    assert metrics.due({}, 1000.0) == ["health", "disk_used", "backup_age"]
    state = dict.fromkeys(("health", "disk_used", "backup_age"), 1000.0)
    assert metrics.due(state, 1000.0 + 45) == ["health"]  # a run a few seconds early still counts
    assert metrics.due(state, 1000.0 + 30) == []
    assert metrics.due(state, 1000.0 + 290) == ["health", "disk_used", "backup_age"]


def test_disk_use_is_counted_as_df_counts_it(tmp_path: Path):
    shown = subprocess.run(
        ["df", "--output=pcent", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    # df rounds up to a whole percent.
    assert int(shown.rstrip("%")) - 1 <= metrics.disk_used_percent(tmp_path) <= int(shown.rstrip("%"))


def test_a_missing_aws_cli_is_named(tmp_path: Path):
    off = config.Offsite(aws_command=str(tmp_path / "no-aws"), bucket="b")
    with pytest.raises(awscli.AwsError, match=r"AWS CLI .*no-aws\) is not installed on this host"):
        awscli.call(off, "s3api", "list-buckets")


# --- against the emulator --------------------------------------------------------------------------------


def test_the_upload_lands_encrypted_with_its_checksum_and_is_checked(aws_env: str, tmp_path: Path):
    s3 = client("s3", aws_env)
    bucket = f"offsite-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    cfg = load(
        tmp_path / "etc", **settings(aws_env, tmp_path, bucket=bucket, key_prefix="webapp/prod/web-1/")
    )
    result = a_backup(tmp_path)
    sent = offsite.upload(cfg, result)
    key = "webapp/prod/web-1/webapp-20260101T031500Z-1.4.2.db"
    assert sent["object"] == f"s3://{bucket}/{key}" and sent["checksum_verified"] is True
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["sha256"] == sent["sha256"]
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(str(result["sha256"]))).decode()
    assert head["Metadata"] == {
        "sha256": result["sha256"],
        "release": "1.4.2",
        "revision": "abc",
        "created": "2026",
        "host": "web-1",
    }
    sidecar = s3.get_object(Bucket=bucket, Key=f"{key}.sha256")["Body"].read().decode()
    assert sidecar.split()[0] == result["sha256"]

    # The newest offsite backup is found by the time in its name; other objects do not count.
    newer = a_backup(tmp_path, "webapp-20260102T031500Z-1.4.3.db")
    offsite.upload(cfg, newer)
    s3.put_object(Bucket=bucket, Key="webapp/prod/web-1/notes.txt", Body=b"x")
    age, where = offsite.newest_age(cfg, now=1767237300.0 + 86400 + 60)
    assert (age, where) == (60.0, f"s3://{bucket}/webapp/prod/web-1/webapp-20260102T031500Z-1.4.3.db")
    empty = load(
        tmp_path / "etc2", **settings(aws_env, tmp_path, bucket=bucket, key_prefix="webapp/prod/web-2/")
    )
    assert offsite.newest_age(empty) == (None, f"no backup under s3://{bucket}/webapp/prod/web-2/")


def test_a_refused_upload_fails_naming_the_object(aws_env: str, tmp_path: Path):
    s3 = client("s3", aws_env)
    bucket = f"offsite-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    deny_uploads(s3, bucket)
    cfg = load(tmp_path / "etc", **settings(aws_env, tmp_path, bucket=bucket, key_prefix="p/"))
    with pytest.raises(offsite.OffsiteError, match=rf"^s3://{bucket}/p/webapp-.*Forbidden"):
        offsite.upload(cfg, a_backup(tmp_path))


def test_snapshots_carry_the_policys_tags_and_only_ours_are_pruned(aws_env: str, tmp_path: Path):
    ec2 = client("ec2", aws_env)
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    theirs = ec2.create_snapshot(VolumeId=volume, Description="an operator's own")["SnapshotId"]
    own = {"Project": "webapp", "Environment": "unit", "ManagedBy": "ansible-webapp-backup"}
    cfg = load(
        tmp_path / "etc",
        **settings(
            aws_env, tmp_path, volume_id=volume, snapshot_keep=2, snapshot_tags=own,
            snapshot_extra_tags={"CostCenter": "ops"},
        ),
    )  # fmt: skip
    taken = [offsite.snapshot(cfg, a_backup(tmp_path)) for _ in range(3)]
    assert [t["pruned"] for t in taken] == [[], [], [taken[0]["snapshot_id"]]]
    left = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume]}])["Snapshots"]
    assert {s["SnapshotId"] for s in left} == {theirs, taken[1]["snapshot_id"], taken[2]["snapshot_id"]}
    tags = {
        t["Key"]: t["Value"]
        for t in next(s for s in left if s["SnapshotId"] == taken[2]["snapshot_id"])["Tags"]
    }
    assert {k: tags[k] for k in own} == own
    assert tags["CostCenter"] == "ops" and tags["BackupHost"] == "web-1" and tags["Release"] == "1.4.2"
    assert tags["BackupFile"] == "webapp-20260101T031500Z-1.4.2.db"


def statistics(cw, name: str, dimensions: dict[str, str], namespace: str) -> list[dict]:
    return datapoints(cw, namespace, name, dimensions, period=60)


def test_metrics_go_to_the_contracts_names_and_dimensions(aws_env: str, tmp_path: Path):
    cw = client("cloudwatch", aws_env)
    namespace = f"webapp/unit-{uuid.uuid4().hex[:6]}"
    dims = {"Host": "webapp-unit"}
    cfg = load(tmp_path / "etc", **settings(aws_env, tmp_path, namespace=namespace, dimensions=dims))
    first = metrics.publish(cfg)
    # No app container answers: unhealthy. No bucket: the backup age is not published, and said so.
    assert set(first["published"]) == {"AppHealthy", "DataVolumeUsedPercent"}
    assert first["published"]["AppHealthy"] == 0
    # What df says of the data directory's file system (which other processes write to meanwhile).
    assert abs(first["published"]["DataVolumeUsedPercent"] - metrics.disk_used_percent(tmp_path)) < 1.0
    assert first["notes"] == ["OffsiteBackupAgeSeconds not published: no bucket configured"]
    assert statistics(cw, "AppHealthy", dims, namespace)[0]["Maximum"] == 0
    assert statistics(cw, "DataVolumeUsedPercent", dims, namespace)
    # A minute later only the health is due again.
    state = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics.publish(cfg, now=state["health"] + 60)["published"] == {"AppHealthy": 0}


def test_the_alert_puts_the_failure_metric_and_a_message_on_the_topic(aws_env: str, tmp_path: Path):
    sns, sqs, cw = client("sns", aws_env), client("sqs", aws_env), client("cloudwatch", aws_env)
    topic = sns.create_topic(Name=f"alarms-{uuid.uuid4().hex[:6]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"inbox-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    namespace, dims = f"webapp/unit-{uuid.uuid4().hex[:6]}", {"Host": "webapp-unit"}
    off = config.Offsite(**settings(aws_env, tmp_path, namespace=namespace, dimensions=dims, topic_arn=topic))
    scrub = redact.Redactor({"s3cr3t-value"})
    told = alert.send(off, "no-such-unit-for-test.service", scrub)
    assert told["told"][0] == f"BackupFailures=1 in {namespace}"
    points = statistics(cw, "BackupFailures", dims, namespace)
    assert points and points[0]["Maximum"] == 1
    body = json.loads(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]["Body"])
    assert body["Subject"] == "web-1: no-such-unit-for-test.service FAILED"
    assert "no-such-unit-for-test.service failed on web-1" in body["Message"]
    _, text = alert.text(off, "x.service", ["key=s3cr3t-value"], scrub)
    assert "s3cr3t" not in text and "key=[REDACTED]" in text
    # Nothing configured: nothing sent, and said so.
    nothing = alert.send(config.Offsite(aws_command="false"), "x.service", scrub)
    assert (
        nothing["message"]
        == "not alerted for x.service (no metric namespace configured; no alarm topic configured)"
    )
