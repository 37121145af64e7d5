"""A real backup leaves the box, on the local engine: the released app, its real backup, the upload
with the program's AWS CLI calls to moto's server on 127.0.0.1, the backup age and the app's health
published from what the program sees; and what a backup says when it sends nothing."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from ctlhost import CtlHost, docker
from support import hostkit
from support import testimages as images
from support.aws import CREDENTIALS, REGION, datapoints, deny_uploads
from support.aws import aws_client as client

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMESPACE = f"webapp/ctl-{uuid.uuid4().hex[:6]}"
DIMENSIONS = {"Host": "webapp-ctl"}


@pytest.fixture(scope="module")
def deployed(host: CtlHost) -> CtlHost:
    out = host.deploy(images.V1)
    assert out.rc == 0, out.message
    host.wait_healthy()
    return host


@pytest.fixture
def aws(deployed: CtlHost, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The host's offsite settings on the emulator, with a bucket of its own."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    bucket = f"ctl-offsite-{uuid.uuid4().hex[:8]}"
    client("s3", moto_endpoint).create_bucket(Bucket=bucket)
    settings = {
        "aws_command": str(hostkit.VENV_BIN / "aws"),
        "region": REGION,
        "endpoint_url": moto_endpoint,
        "host": "webapp-ctl",
        "bucket": bucket,
        "key_prefix": "webapp/ctl/webapp-ctl/",
        "namespace": NAMESPACE,
        "dimensions": DIMENSIONS,
        "metrics_state": str(deployed.base / "metrics.json"),
    }
    (deployed.config_dir / "offsite.json").write_text(json.dumps(settings))
    yield {"bucket": bucket, "s3": client("s3", moto_endpoint), "cw": client("cloudwatch", moto_endpoint)}
    (deployed.config_dir / "offsite.json").unlink()


def latest(cw, name: str) -> float:
    points = datapoints(cw, NAMESPACE, name, DIMENSIONS)
    assert points, f"no {name} in {NAMESPACE}"
    return points[0]


def test_without_offsite_settings_a_backup_says_what_it_did_not_send(deployed: CtlHost):
    out = deployed.ctl("backup")
    assert out.rc == 0, out.message
    assert "not uploaded: no bucket configured" in out.message
    assert "no snapshot: no data volume configured" in out.message
    assert "backup age not published: no metric namespace configured" in out.message
    assert "not uploaded: no bucket configured" in out.stderr  # the journal of the timer's unit
    assert out.result["upload"]["done"] is False


def test_a_backup_lands_in_the_bucket_and_its_age_is_published(deployed: CtlHost, aws: dict):
    out = deployed.ctl("backup")
    assert out.rc == 0, out.message
    key = f"webapp/ctl/webapp-ctl/{out.result['path'].rsplit('/', 1)[1]}"
    assert f"uploaded: s3://{aws['bucket']}/{key}" in out.message
    body = aws["s3"].get_object(Bucket=aws["bucket"], Key=key)["Body"].read()
    local = (deployed.root / "backups" / key.rsplit("/", 1)[1]).read_bytes()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(local).hexdigest() == out.result["sha256"]
    age = latest(aws["cw"], "OffsiteBackupAgeSeconds")
    assert 0 <= age["Maximum"] < 600


def test_the_running_app_is_reported_healthy_and_a_stopped_one_not(deployed: CtlHost, aws: dict):
    out = deployed.ctl("metrics", "--all")
    assert out.rc == 0, out.message
    assert out.result["published"]["AppHealthy"] == 1
    assert 0 < out.result["published"]["DataVolumeUsedPercent"] <= 100
    # This test's bucket holds no backup yet: no age is published, and the result says so.
    assert "OffsiteBackupAgeSeconds" not in out.result["published"]
    assert out.result["notes"] == [
        f"OffsiteBackupAgeSeconds not published: no backup under s3://{aws['bucket']}/webapp/ctl/webapp-ctl/"
    ]
    docker("stop", deployed.app)
    try:
        down = deployed.ctl("metrics", "--all")
    finally:
        docker("start", deployed.app)
        deployed.wait_healthy()
    assert down.result["published"]["AppHealthy"] == 0
    assert latest(aws["cw"], "AppHealthy")["Minimum"] == 0


def test_a_refused_upload_fails_the_backup_and_keeps_the_local_copy(deployed: CtlHost, aws: dict):
    deny_uploads(aws["s3"], aws["bucket"])
    out = deployed.ctl("backup")
    assert out.rc == 1
    assert out.state == "failed"
    assert f"FAILED: not uploaded: s3://{aws['bucket']}/webapp/ctl/" in out.message
    assert "backup age not published: nothing was uploaded" in out.message
    # The local backup was taken and verified all the same.
    local = deployed.root / "backups" / out.result["path"].rsplit("/", 1)[1]
    assert local.is_file() and out.result["integrity"] == "ok"
    assert hashlib.sha256(local.read_bytes()).hexdigest() == out.result["sha256"]
