"""Restore from an EBS snapshot, the host side included. The AWS calls go to moto; the test plays the
hypervisor: when moto reports the restore volume attached to the instance, a loop device holding the
snapshot's file system appears in the host's /dev under the name that instance type would show
(/dev/xvdg on Xen, /dev/nvme2n1 plus its by-id link on Nitro), and disappears on detach. The host is a
Debian 12 systemd container (ssh 127.0.0.1:2227, app 127.0.0.1:18087) allowed to open loop devices."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import backup_helpers as helpers
import pytest
import requests
from support import hostkit
from support.aws import aws_client

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = "webapp-snapshot-test"
SSH_PORT = 2227
APP = "http://127.0.0.1:18087"
LOOP_MAJOR = 7
DATA = "/app/data"
RESTORE_TAG = [{"Name": "tag:Purpose", "Values": ["restore"]}]


def host(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", HOST, *command], capture_output=True, text=True, check=check)


def items() -> set[str]:
    return {item["name"] for item in hostkit.served_items(APP)}


# --- the instance and its disks ---------------------------------------------------------------------


@dataclass
class Cloud:
    site: helpers.Site
    ec2: object
    instance: str
    data_volume: str


@pytest.fixture(scope="module")
def cloud(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    if not Path("/dev/loop-control").exists() or shutil.which("losetup") is None:
        pytest.skip("this machine has no loop devices (/dev/loop-control, losetup)")
    ec2 = aws_client("ec2", moto_endpoint)
    instance_id = helpers.moto_instance(ec2, "us-east-1a")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8, Encrypted=True)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance_id, Device="/dev/sdf")
    workdir = tmp_path_factory.mktemp("snapshot-inventory")
    group_vars = {"app_env": {"SECRET_KEY": uuid.uuid4().hex}, "backup_restore_instance_id": instance_id}
    rule = f"b {LOOP_MAJOR}:* rmw"
    with helpers.deployed_site(HOST, SSH_PORT, 18087, moto_endpoint, workdir, group_vars, rule) as site:
        yield Cloud(site, ec2, instance_id, volume)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    made = Disk(tmp_path / "volume.img")
    yield made
    made.detach()


@dataclass
class Disk:
    """An ext4 file system image on a loop device: what a volume made from the snapshot holds."""

    image: Path
    device: str = ""

    def fill(self, files: dict[str, bytes]) -> None:
        tree = self.image.with_suffix(".tree")
        tree.mkdir()
        for name, content in files.items():
            (tree / name).write_bytes(content)
            (tree / name).chmod(0o640)
        # Owned by the app's user, as on the live data volume.
        subprocess.run(["chown", "-R", "10001:10001", str(tree)], check=True)
        subprocess.run(["truncate", "-s", "64M", str(self.image)], check=True)
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-L", "app-data", "-d", str(tree), str(self.image)], check=True
        )
        found = subprocess.run(
            ["losetup", "--find", "--show", str(self.image)], capture_output=True, text=True, check=True
        )
        self.device = found.stdout.strip()

    @property
    def numbers(self) -> str:
        return f"{LOOP_MAJOR}:{int(self.device.removeprefix('/dev/loop'))}"

    def detach(self) -> None:
        if self.device:
            subprocess.run(["losetup", "--detach", self.device], check=False)


@dataclass
class Hypervisor:
    """Makes the disk appear in the host when moto says the restore volume is attached, and vanish
    when it is detached; records whether it was still mounted at that moment."""

    ec2: object
    disk: Disk
    nitro: bool
    plugged: list[str] = field(default_factory=list)
    unplugged: list[str] = field(default_factory=list)
    mounted_at_detach: list[bool] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def nodes(self, volume_id: str) -> tuple[str, str]:
        """The block device node and, on Nitro, the by-id link udev would make for the volume."""
        if self.nitro:
            return (
                "/dev/nvme2n1",
                f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}",
            )
        return "/dev/xvdg", ""

    def run(self) -> None:
        while not self.stop.is_set():
            volumes = self.ec2.describe_volumes(Filters=RESTORE_TAG)["Volumes"]
            attached = {
                v["VolumeId"] for v in volumes if any(a["State"] == "attached" for a in v["Attachments"])
            }
            for volume_id in attached - set(self.plugged):
                node, link = self.nodes(volume_id)
                major, minor = self.disk.numbers.split(":")
                script = f"mknod -m 0660 {node} b {major} {minor}"
                if link:
                    script += f" && mkdir -p {Path(link).parent} && ln -s ../../{Path(node).name} {link}"
                host("sh", "-c", script)
                self.plugged.append(volume_id)
            for volume_id in set(self.plugged) - attached - set(self.unplugged):
                mountinfo = host("cat", "/proc/self/mountinfo").stdout
                self.mounted_at_detach.append(f" {self.disk.numbers} " in mountinfo)
                node, link = self.nodes(volume_id)
                host("rm", "-f", node, *([link] if link else []))
                self.unplugged.append(volume_id)
            time.sleep(0.3)


def snapshot_now(cloud: Cloud) -> tuple[str, dict[str, bytes]]:
    """A crash-consistent snapshot, as EBS takes it: the app frozen mid-flight (paused, not stopped),
    its database files copied as they are (WAL included), and a snapshot recorded in moto."""
    host("docker", "pause", "webapp")
    try:
        files = {}
        for name in ("app.db", "app.db-wal", "app.db-shm"):
            copied = subprocess.run(["docker", "exec", HOST, "cat", f"{DATA}/{name}"], capture_output=True)
            if copied.returncode == 0:
                files[name] = copied.stdout
    finally:
        host("docker", "unpause", "webapp")
    snapshot = cloud.ec2.create_snapshot(VolumeId=cloud.data_volume, Description="test")["SnapshotId"]
    return snapshot, files


def names_in(files: dict[str, bytes], workdir: Path, with_wal: bool) -> set[str]:
    workdir.mkdir(exist_ok=True)
    for name, content in files.items():
        if with_wal or name == "app.db":
            (workdir / name).write_bytes(content)
    with sqlite3.connect(workdir / "app.db") as conn:
        return {row[0] for row in conn.execute("SELECT name FROM items")}


def restore(
    cloud: Cloud, snapshot: str, disk: Disk, nitro: bool
) -> tuple[subprocess.CompletedProcess, Hypervisor]:
    hypervisor = Hypervisor(cloud.ec2, disk, nitro)
    watcher = threading.Thread(target=hypervisor.run, daemon=True)
    watcher.start()
    try:
        proc = cloud.site.play(
            "restore.yml", check=False, backup_restore_source="snapshot", backup_restore_snapshot_id=snapshot
        )
        deadline = time.monotonic() + 10
        while len(hypervisor.unplugged) < len(hypervisor.plugged) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        hypervisor.stop.set()
        watcher.join(timeout=10)
    return proc, hypervisor


def assert_volume_handled(cloud: Cloud, hypervisor: Hypervisor) -> None:
    """One restore volume appeared, was unmounted before it was detached, and is deleted."""
    assert len(hypervisor.plugged) == 1, f"restore volumes seen attached: {hypervisor.plugged}"
    assert hypervisor.unplugged == hypervisor.plugged
    assert hypervisor.mounted_at_detach == [False], "the volume was detached while still mounted"
    assert cloud.ec2.describe_volumes(Filters=RESTORE_TAG)["Volumes"] == []
    assert cloud.ec2.describe_volumes(VolumeIds=[cloud.data_volume])["Volumes"][0]["State"] == "in-use"
    assert host("findmnt", "/mnt/webapp-restore", check=False).returncode != 0


# --- tests ------------------------------------------------------------------------------------------


def test_a_snapshot_restore_brings_back_the_volume_s_database_including_its_wal(
    cloud: Cloud, disk: Disk, tmp_path: Path
) -> None:
    session = requests.Session()
    wanted = {f"snap-{uuid.uuid4().hex[:6]}-{n}" for n in range(3)}
    for name in sorted(wanted):
        hostkit.post_item(APP, name, {"by": "snapshot-test"}, session)
    snapshot, files = snapshot_now(cloud)
    in_snapshot = names_in(files, tmp_path / "whole", with_wal=True)
    assert wanted <= in_snapshot
    # The newest writes live only in the WAL: the copy-out must recover it, not read the main file.
    assert not wanted <= names_in(files, tmp_path / "main-only", with_wal=False), "nothing left in the WAL"
    disk.fill(files)
    later = f"after-snapshot-{uuid.uuid4().hex[:6]}"
    hostkit.post_item(APP, later, {"by": "snapshot-test"}, session)

    proc, hypervisor = restore(cloud, snapshot, disk, nitro=False)

    assert proc.returncode == 0, proc.stdout[-4000:]
    assert f"Restored snapshot {snapshot}" in proc.flat
    assert items() == in_snapshot
    assert_volume_handled(cloud, hypervisor)
    # What the restore replaced is kept, and the snapshot is untouched.
    newest = "ls -1 /app/data/.backups/pre-restore/pre-restore-*.db | tail -n 1"
    safety = host("sh", "-c", newest).stdout.strip()
    assert later in hostkit.db_items(HOST, safety, tmp_path).values()
    assert cloud.ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"


def test_a_snapshot_without_the_database_is_refused_and_its_volume_removed(cloud: Cloud, disk: Disk) -> None:
    snapshot = cloud.ec2.create_snapshot(VolumeId=cloud.data_volume, Description="empty")["SnapshotId"]
    disk.fill({"notes.txt": b"not a database\n"})
    before = items()
    started = host("docker", "inspect", "-f", "{{.State.StartedAt}}", "webapp").stdout
    stat = host("stat", "-c", "%i %Y %s", f"{DATA}/app.db").stdout

    proc, hypervisor = restore(cloud, snapshot, disk, nitro=True)

    assert proc.returncode != 0
    assert f"Not restoring: the database in snapshot {snapshot} could not be copied out" in proc.flat
    assert "nothing was changed" in proc.flat
    assert_volume_handled(cloud, hypervisor)
    assert host("docker", "inspect", "-f", "{{.State.StartedAt}}", "webapp").stdout == started
    assert host("stat", "-c", "%i %Y %s", f"{DATA}/app.db").stdout == stat
    assert items() == before
