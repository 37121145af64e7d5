"""deploy/*.sh --local for real, against the local rehearsal (moto's server as AWS, a systemd container
as the instance) on names and ports of its own (the REHEARSAL_* overrides), so it never meets a
running demo or the rehearsal test: build.sh makes the tagged image, setup-ec2.sh provisions and
configures, update.sh deploys the image and the app serves it, a broken image makes update.sh fail
with the deploy's undo message, backup.sh leaves a new verified backup and a snapshot."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support import hostkit
from support.aws import aws_client
from support.testimages import image_id

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = hostkit.ROOT
ENV = {
    "REHEARSAL_NAME": "h15-deploy-scripts",
    "REHEARSAL_SSH_PORT": "24022",
    "REHEARSAL_APP_PORT": "24080",
    "REHEARSAL_MOTO_PORT": "24050",
}
HOST = ENV["REHEARSAL_NAME"]
APP = f"http://127.0.0.1:{ENV['REHEARSAL_APP_PORT']}"
GOOD, BROKEN = "webapp:h15-scripts-good", "webapp:h15-scripts-broken"
# Starts from the good image and exits at once: the deploy's health gate fails and it undoes itself.
BROKEN_DOCKERFILE = f"""FROM {GOOD}
ENTRYPOINT ["/bin/sh", "-c", "echo 'broken release: refusing to start' >&2; exit 1"]
"""


def script(name: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(ROOT / "deploy" / name), *args],
        env={**os.environ, **ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    proc.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
    return proc


def on_host(*command: str) -> str:
    return subprocess.run(
        ["docker", "exec", HOST, *command], capture_output=True, text=True, check=True
    ).stdout


def ec2():  # boto3 clients have no importable type
    """The rehearsal's emulator (any credentials reach moto's one default account)."""
    return aws_client("ec2", f"http://127.0.0.1:{ENV['REHEARSAL_MOTO_PORT']}")


def data_volume_id() -> str:
    reservations = ec2().describe_instances(
        Filters=[
            {"Name": "tag:Environment", "Values": ["local"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    (instance,) = [i for r in reservations for i in r["Instances"]]
    return next(
        m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"
    )


def backups() -> set[str]:
    # On the data volume; webappctl makes the directory at the first backup.
    found = "find /app/data/.backups -maxdepth 1 -type f -name '*.db' 2>/dev/null || true"
    listed = on_host("sh", "-c", found)
    return set(listed.split())


@pytest.fixture(scope="module")
def built() -> Iterator[subprocess.CompletedProcess[str]]:
    """build.sh GOOD (--allow-dirty: the tests may run in a checkout being worked on; the refusal of
    a dirty tree is tested in test_deploy_scripts_args.py), then setup-ec2.sh --local."""
    hostkit.host_down(HOST)  # a host left by an interrupted earlier run
    build = script("build.sh", "--allow-dirty", GOOD)
    try:
        yield build
    finally:
        subprocess.run(
            [str(ROOT / "scripts" / "rehearsal.sh"), "down"],
            env={**os.environ, **ENV},
            capture_output=True,
            timeout=600,
            check=False,
        )
        subprocess.run(["docker", "image", "rm", "-f", GOOD, BROKEN], capture_output=True, check=False)
        for archive in (ROOT / "build" / "images").glob("webapp_h15-scripts-*"):
            archive.unlink()
        shutil.rmtree(ROOT / "build" / "rehearsal" / HOST, ignore_errors=True)


@pytest.fixture(scope="module")
def set_up(built) -> subprocess.CompletedProcess[str]:
    return script("setup-ec2.sh", "--local")


@pytest.fixture(scope="module")
def deployed(set_up) -> subprocess.CompletedProcess[str]:
    return script("update.sh", "--local", GOOD)


def test_build_makes_the_tagged_image_and_prints_it(built):
    assert built.returncode == 0, built.output[-3000:]
    assert built.stdout == f"{GOOD}\n"
    assert image_id(GOOD).startswith("sha256:")


def test_setup_provisions_and_configures_the_rehearsal_instance(set_up):
    assert set_up.returncode == 0, set_up.output[-4000:]
    assert "next: deploy/update.sh --local IMAGE" in set_up.stderr
    data_volume_id()  # one running instance tagged Environment=local, with its data volume
    assert on_host("systemctl", "is-active", "docker").strip() == "active"
    assert on_host("systemctl", "is-enabled", "webapp-backup.timer").strip() == "enabled"


def test_update_deploys_the_image_and_the_app_serves_it(deployed):
    assert deployed.returncode == 0, deployed.output[-4000:]
    assert f"{GOOD} is deployed: {APP}/health" in deployed.stderr
    assert on_host("docker", "inspect", "-f", "{{.Image}}", "webapp").strip() == image_id(GOOD)
    hostkit.wait_healthy(APP, timeout=30)
    hostkit.authorize(APP, HOST)  # writes need a token
    hostkit.post_item(APP, "before-backup", {"by": "deploy-scripts-test"})


def test_broken_image_makes_update_fail_with_the_undo_message(deployed, tmp_path):
    (tmp_path / "Dockerfile").write_text(BROKEN_DOCKERFILE)
    subprocess.run(["docker", "build", "-q", "-t", BROKEN, str(tmp_path)], check=True, capture_output=True)
    failed = script("update.sh", "--local", BROKEN, "--", "-e", "app_health_timeout=20")
    assert failed.returncode != 0, failed.output[-4000:]
    assert "FAILED" in failed.output and "Undone" in failed.output, failed.output[-4000:]
    assert f"deploying {BROKEN} failed (ansible-playbook exit {failed.returncode})" in failed.stderr


def test_backup_leaves_a_verified_backup_and_a_snapshot(deployed, tmp_path):
    volume = data_volume_id()
    before = backups()
    snapshots_before = {s["SnapshotId"] for s in ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    run = script("backup.sh", "--local")
    assert run.returncode == 0, run.output[-4000:]

    (new,) = backups() - before
    copy = hostkit.db_copy(HOST, new, tmp_path)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        names = {name for (name,) in conn.execute("SELECT name FROM items")}
    assert "before-backup" in names

    snapshots = ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]
    (snapshot,) = [s for s in snapshots if s["SnapshotId"] not in snapshots_before]
    assert snapshot["VolumeId"] == volume
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}["BackupFile"] == Path(new).name


def test_the_app_still_serves_after_all(deployed):
    assert requests.get(f"{APP}/health", timeout=10).status_code == 200
