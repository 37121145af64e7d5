"""Backups leave the box by themselves, on a real host: a Debian 12 systemd host (scripts/host-container.sh)
configured and deployed with the project's playbooks, whose backup role takes its offsite settings from
an `ec2_instance_provisioned` fact as provision.yml leaves it. The host reaches AWS as an instance does:
moto at 169.254.169.254 on a Docker network it joins (tests/support/metadata_moto.py), its AWS CLI (the
role installs Debian's awscli) taking the instance role's credentials from the metadata service; the
tests look at the same emulator on 127.0.0.1.

In order, on one host: the timer's backup lands in the bucket and its checksum matches; snapshots of the
data volume are taken and only ours pruned; the metrics carry the contract's names and dimensions; a
failing upload fires the OnFailure alert (the metric and a message on the topic). Names and ports:
WEBAPP_TEST_PREFIX and WEBAPP_TEST_PORT_BASE override the defaults below."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator

import backup_helpers as helpers
import pytest
from support import hostkit, metadata_moto
from support.aws import aws_client, deny_uploads
from support.aws import datapoints as metric_datapoints

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = hostkit.run_name("offsite-test")
MOTO = hostkit.run_name("offsite-moto")
NETWORK = hostkit.run_name("offsite-net")
SSH_PORT = hostkit.run_port(2238, 3)
APP_PORT = hostkit.run_port(18096, 4)
MOTO_PORT = hostkit.run_port(15096, 5)
BUCKET = "webapp-offsite-backups-123456789012"
PREFIX = f"webapp/offsite/{HOST}/"
NAMESPACE = "webapp/offsite"
DIMENSIONS = {"Host": "webapp-offsite"}
BACKUPS = "/app/data/.backups"
WEBAPPCTL = "/usr/local/sbin/webappctl"


def host(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command on the test host (through the engine: observations, and starting its units)."""
    return subprocess.run(["docker", "exec", HOST, *command], capture_output=True, text=True, check=check)


def journal(unit: str, lines: int = 30) -> str:
    return host("journalctl", "-u", unit, "-n", str(lines), "--no-pager", check=False).stdout


def unit_state(unit: str) -> str:
    return host("systemctl", "show", "-p", "ActiveState", "--value", unit).stdout.strip()


@pytest.fixture(scope="module")
def aws() -> Iterator[dict]:
    """The emulator, and what provision.yml would have made there: bucket, topic (with a queue that
    receives its messages, standing for the e-mail), the tagged data volume and a snapshot not ours."""
    with metadata_moto.emulator(MOTO, NETWORK, MOTO_PORT) as endpoint:
        s3, ec2 = aws_client("s3", endpoint), aws_client("ec2", endpoint)
        sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
        s3.create_bucket(Bucket=BUCKET)
        topic = sns.create_topic(Name="webapp-offsite-alarms")["TopicArn"]
        queue = sqs.create_queue(QueueName="webapp-offsite-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        tags = {"Project": "webapp", "Environment": "offsite", "VolumeRole": "data", "ManagedBy": "ansible"}
        volume = ec2.create_volume(
            AvailabilityZone="us-east-1a",
            Size=1,
            TagSpecifications=[
                {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
        )["VolumeId"]
        theirs = ec2.create_snapshot(VolumeId=volume, Description="an operator's own")["SnapshotId"]
        yield {
            "endpoint": endpoint,
            "s3": s3,
            "ec2": ec2,
            "sqs": sqs,
            "cw": aws_client("cloudwatch", endpoint),
            "topic": topic,
            "queue": queue,
            "volume": volume,
            "theirs": theirs,
        }


@pytest.fixture(scope="module")
def site(aws: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[helpers.Site]:
    provisioned = {
        "region": "us-east-1",
        "endpoint_url": aws["endpoint"],
        "data_volume_id": aws["volume"],
        "tag_filters": {"tag:Project": "webapp", "tag:Environment": "offsite"},
        "backup_bucket": BUCKET,
        "backup_prefix": "webapp/offsite/",
        "metric_namespace": NAMESPACE,
        "metric_dimensions": DIMENSIONS,
        "metric_names": {
            "health": "AppHealthy",
            "disk_used": "DataVolumeUsedPercent",
            "backup_age": "OffsiteBackupAgeSeconds",
            "backup_failures": "BackupFailures",
        },
        "alarm_topic_arn": aws["topic"],
    }
    group_vars = {
        "app_env": {"SECRET_KEY": "offsite-test-secret-that-signs-api-tokens"},
        "ec2_instance_provisioned": provisioned,
        # The instance's own view of AWS (the ec2_instance role's variable for it).
        "ec2_instance_user_data_aws_endpoint_url": f"http://{metadata_moto.METADATA_IP}",
        "backup_aws_from": "host",
        "backup_snapshot_keep": 2,
    }
    workdir = tmp_path_factory.mktemp("offsite-inventory")
    hostkit.ensure_image("webapp:local")
    hostkit.host_down(HOST)
    try:
        # On the emulator's network before anything is installed, as an instance is in its VPC.
        hostkit.host_up(HOST, SSH_PORT, APP_PORT)
        subprocess.run(["docker", "network", "connect", NETWORK, HOST], check=True)
        with helpers.deployed_site(
            HOST, SSH_PORT, APP_PORT, aws["endpoint"], workdir, group_vars
        ) as deployed:
            yield deployed
    finally:
        hostkit.host_down(HOST)


def run_backup_unit() -> subprocess.CompletedProcess[str]:
    """What the timer starts, started now; returns when the oneshot unit has finished."""
    return host("systemctl", "start", "webapp-backup.service", check=False)


def newest_backup() -> str:
    names = host("sh", "-c", f"ls -1 {BACKUPS} | grep -E '^webapp-.*\\.db$' | sort").stdout.split()
    assert names, f"no backup in {BACKUPS}"
    return f"{BACKUPS}/{names[-1]}"


def datapoints(aws: dict, name: str) -> list[dict]:
    return metric_datapoints(aws["cw"], NAMESPACE, name, DIMENSIONS)


def ours(aws: dict) -> list[dict]:
    found = aws["ec2"].describe_snapshots(Filters=[{"Name": "volume-id", "Values": [aws["volume"]]}])
    return [s for s in found["Snapshots"] if any(t["Key"] == "BackupTime" for t in s.get("Tags") or [])]


def test_the_host_is_configured_from_the_instance_facts(site: helpers.Site) -> None:
    offsite = json.loads(host("cat", "/etc/webapp/offsite.json").stdout)
    assert offsite["bucket"] == BUCKET and offsite["key_prefix"] == PREFIX
    assert offsite["endpoint_url"] == f"http://{metadata_moto.METADATA_IP}"
    assert offsite["namespace"] == NAMESPACE and offsite["dimensions"] == DIMENSIONS
    assert offsite["snapshot_tags"] == {
        "Project": "webapp",
        "Environment": "offsite",
        "ManagedBy": "ansible-webapp-backup",
    }
    assert host("sh", "-c", "command -v aws").returncode == 0  # installed by the role
    for timer in ("webapp-backup.timer", "webapp-metrics.timer"):
        assert host("systemctl", "is-active", timer).stdout.strip() == "active", timer
    assert (
        "OnFailure=webapp-alert@%n.service" in host("cat", "/etc/systemd/system/webapp-backup.service").stdout
    )


def test_the_timers_backup_lands_in_the_bucket_and_its_checksum_matches(
    site: helpers.Site, aws: dict
) -> None:
    started = run_backup_unit()
    assert started.returncode == 0, journal("webapp-backup.service")
    path = newest_backup()
    key = f"{PREFIX}{path.rsplit('/', 1)[1]}"
    assert f"uploaded: s3://{BUCKET}/{key}" in journal("webapp-backup.service")
    local = host("sha256sum", path).stdout.split()[0]
    body = aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == local
    head = aws["s3"].head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["sha256"] == local and head["Metadata"]["host"] == HOST
    assert "ChecksumSHA256" in head
    sidecar = aws["s3"].get_object(Bucket=BUCKET, Key=f"{key}.sha256")["Body"].read().decode()
    assert sidecar.split()[0] == local
    # The local copies are on the data volume, root only: the app's container (the app user) cannot read them.
    assert host("stat", "-c", "%U %a", BACKUPS).stdout.split() == ["root", "700"]
    assert host("stat", "-c", "%U %a", path).stdout.split() == ["root", "600"]
    assert host("docker", "exec", "webapp", "ls", BACKUPS, check=False).returncode != 0
    # The age of the newest offsite backup was published after the upload.
    assert datapoints(aws, "OffsiteBackupAgeSeconds")


def test_snapshots_of_the_data_volume_are_taken_and_only_ours_pruned(site: helpers.Site, aws: dict) -> None:
    assert len(ours(aws)) == 1  # the previous test's backup
    first = ours(aws)[0]["SnapshotId"]
    for _ in range(2):
        time.sleep(1)  # backup names carry seconds
        assert run_backup_unit().returncode == 0, journal("webapp-backup.service")
    kept = ours(aws)
    assert len(kept) == 2 and first not in {s["SnapshotId"] for s in kept}
    left = {s["SnapshotId"] for s in aws["ec2"].describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert aws["theirs"] in left
    tags = {t["Key"]: t["Value"] for t in kept[0]["Tags"]}
    assert (tags["Project"], tags["Environment"], tags["BackupHost"]) == ("webapp", "offsite", HOST)
    assert first not in left


def test_the_metrics_carry_the_contracts_names_and_dimensions(site: helpers.Site, aws: dict) -> None:
    timer = host("systemctl", "show", "webapp-metrics.timer", "-p", "TimersCalendar").stdout
    assert "OnCalendar=*-*-* *:*:00" in timer
    run = host(WEBAPPCTL, "metrics", "--all", check=False)
    assert run.returncode == 0, run.stderr
    published = json.loads(run.stdout)["published"]
    assert published["AppHealthy"] == 1
    assert 0 < published["DataVolumeUsedPercent"] <= 100
    assert 0 <= published["OffsiteBackupAgeSeconds"] < 3600
    listed = aws["cw"].list_metrics(Namespace=NAMESPACE)["Metrics"]
    names = {
        m["MetricName"] for m in listed if m["Dimensions"] == [{"Name": "Host", "Value": "webapp-offsite"}]
    }
    assert {"AppHealthy", "DataVolumeUsedPercent", "OffsiteBackupAgeSeconds"} <= names
    assert datapoints(aws, "AppHealthy")[0]["Maximum"] == 1


def test_a_failing_upload_fires_the_onfailure_alert(site: helpers.Site, aws: dict) -> None:
    deny_uploads(aws["s3"], BUCKET)
    try:
        failed = run_backup_unit()
    finally:
        aws["s3"].delete_bucket_policy(Bucket=BUCKET)
    assert failed.returncode != 0
    assert f"FAILED: not uploaded: s3://{BUCKET}/{PREFIX}" in journal("webapp-backup.service")
    alert_unit = "webapp-alert@webapp-backup.service.service"
    deadline = time.monotonic() + 60
    while not (
        messages := aws["sqs"].receive_message(QueueUrl=aws["queue"], WaitTimeSeconds=1).get("Messages")
    ):
        assert time.monotonic() < deadline, journal(alert_unit)
    body = json.loads(messages[0]["Body"])
    assert body["Subject"] == f"{HOST}: webapp-backup.service FAILED"
    assert "webapp-backup.service failed on" in body["Message"]
    assert "not uploaded: s3://" in body["Message"]
    assert "offsite-test-secret" not in body["Message"]
    assert datapoints(aws, "BackupFailures")[0]["Maximum"] == 1
    while unit_state(alert_unit) != "inactive":
        assert time.monotonic() < deadline, journal(alert_unit)
        time.sleep(0.5)
    result = host("systemctl", "show", "-p", "Result", "--value", alert_unit).stdout.strip()
    assert result == "success", journal(alert_unit)
    assert "alerted for webapp-backup.service" in journal(alert_unit)
