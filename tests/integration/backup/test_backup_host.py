"""Backup and restore on a real host: a Debian 12 systemd container reached over ssh
(scripts/host-container.sh), configured and deployed with the project's playbooks, the app answering
on 127.0.0.1:18086, and S3 emulated by moto on 127.0.0.1. One host for the whole module."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import backup_helpers as helpers
import pytest
import requests
import yaml
from support import hostkit
from support.aws import aws_client
from support.hostkit import ROOT
from support.playbook import run_playbook

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = "webapp-backup-test"
SSH_PORT = 2226
APP = "http://127.0.0.1:18086"
BUCKET = "webapp-backup-test"
SECRET = f"backup-test-secret-{uuid.uuid4().hex}"  # 32 bytes or more: it signs API tokens
BACKUP_DIR = "/app/data/.backups"
WEBAPPCTL = "/usr/local/sbin/webappctl"
# A process on the host holding its lock as a deploy would (the program's own Lock class), until killed.
HOLD_LOCK = (
    'rm -f /run/lock-held; nohup python3 -c "import sys, time; '
    "sys.path.insert(0, '/usr/local/lib/webappctl/webappctl.pyz'); from pathlib import Path; "
    "from webappctl.lock import Lock; l = Lock(Path('/app/releases'), '{action}', '{owner}', 900); "
    "l.acquire(0); open('/run/lock-held', 'w').close(); time.sleep(600)\" lock-holder-for-test "
    ">/dev/null 2>&1 & for i in $(seq 50); do [ -e /run/lock-held ] && exit 0; sleep 0.1; done; exit 1"
)


# --- the host -------------------------------------------------------------------------------------


def host(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command on the test host (through the engine: these are observations, not actions)."""
    return subprocess.run(["docker", "exec", HOST, *command], capture_output=True, text=True, check=check)


def wait_healthy() -> None:
    hostkit.wait_healthy(APP, timeout=90)


@dataclass
class Site(helpers.Site):
    """The deployed host (a support.playbook.Site) and the bucket its backups go to."""

    s3: object = None


@pytest.fixture(scope="module")
def site(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s3 = aws_client("s3", moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    group_vars = {
        "app_env": {"SECRET_KEY": SECRET},
        "backup_keep": 3,
        "backup_timer_on_calendar": "*-*-* 03:15:00",
    }
    workdir = tmp_path_factory.mktemp("backup-inventory")
    with helpers.deployed_site(HOST, SSH_PORT, 18086, moto_endpoint, workdir, group_vars) as deployed:
        yield Site(deployed.inventory, deployed.env, s3)


# --- the data -------------------------------------------------------------------------------------


def post(session: requests.Session, name: str) -> str:
    return hostkit.post_item(APP, name, {"by": "backup-test"}, session)


def api_items() -> dict[str, str]:
    """Every item the app serves, name -> id."""
    return {item["name"]: item["id"] for item in hostkit.served_items(APP)}


def backup_items(path: str, tmp_path: Path) -> dict[str, str]:
    """The items inside a backup file on the host, name -> id."""
    return {name: item_id for item_id, name in hostkit.db_items(HOST, path, tmp_path).items()}


def newest_backup(subdir: str = "") -> str:
    where = f"{BACKUP_DIR}/{subdir}".rstrip("/")
    prefix = "pre-restore" if subdir == "pre-restore" else "webapp"
    names = host("sh", "-c", f"ls -1 {where} | grep -E '^{prefix}-.*\\.db(\\.gz)?$' | sort").stdout.split()
    assert names, f"no backup in {where}"
    return f"{where}/{names[-1]}"


def fresh_backup(site: Site) -> str:
    """A backup taken now with webappctl (the deploy installed it)."""
    return json.loads(host(WEBAPPCTL, "backup").stdout.splitlines()[-1])["path"]


@contextmanager
def lock_held(action: str, owner: str) -> Iterator[None]:
    taken = host("sh", "-c", HOLD_LOCK.format(action=action, owner=owner), check=False)
    assert taken.returncode == 0, taken.stderr
    try:
        yield
    finally:
        host("pkill", "-f", "lock-holder-for-test", check=False)


def db_state() -> dict[str, str]:
    """What must not change when a restore is refused: the database file and the container's start."""
    started = subprocess.run(
        ["docker", "exec", HOST, "docker", "inspect", "-f", "{{.State.StartedAt}}", "webapp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stat = host("stat", "-c", "%i %Y %s", "/app/data/app.db").stdout.strip()
    backups = host("sh", "-c", f"ls -R {BACKUP_DIR} | grep -v '^$'", check=False).stdout
    return {"started": started, "stat": stat, "backups": backups}


def changed_tasks(output: str) -> list[str]:
    changed, task = [], ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[6 : line.index("]")]
        elif line.startswith("changed:") and task not in changed:
            changed.append(task)
    return changed


@dataclass
class Writer:
    """One client POSTing items in sequence; an item is acknowledged when its 201 arrived."""

    session: requests.Session = field(default_factory=requests.Session)
    sent: list[tuple[str, float]] = field(default_factory=list)  # (name, epoch the request started)
    acked: list[tuple[str, str, float]] = field(default_factory=list)  # (name, id, epoch the 201 arrived)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            name = f"w{seq:06d}"
            self.sent.append((name, time.time()))
            try:
                item_id = post(self.session, name)
            except (AssertionError, requests.RequestException) as exc:
                self.errors.append(f"{name}: {exc}")
                return
            self.acked.append((name, item_id, time.time()))
            seq += 1


# --- tests ----------------------------------------------------------------------------------------


def test_the_scheduled_backup_is_installed_and_runs(site: Site) -> None:
    site.play("backup.yml")
    assert host("systemctl", "is-enabled", "webapp-backup.timer").stdout.strip() == "enabled"
    assert host("systemctl", "is-active", "webapp-backup.timer").stdout.strip() == "active"
    timer = host(
        "systemctl", "show", "webapp-backup.timer", "-p", "TimersCalendar", "-p", "Persistent"
    ).stdout
    assert "OnCalendar=*-*-* 03:15:00" in timer
    assert "Persistent=yes" in timer
    # The unit itself works under systemd (not only when Ansible runs the script).
    before = newest_backup()
    time.sleep(1)  # backup names carry seconds
    started = host("systemctl", "start", "webapp-backup.service", check=False)
    journal = host("journalctl", "-u", "webapp-backup.service", "-n", "20", "--no-pager", check=False).stdout
    assert started.returncode == 0, journal
    assert newest_backup() != before, journal
    assert '"integrity": "ok"' in journal


def test_the_scheduled_backup_waits_while_a_change_holds_the_lock(site: Site) -> None:
    # A restore (or deploy, or rollback) holds the lock: the timer's backup must not read a database
    # that is being swapped. It waits, saying for whom, and runs once the lock is released.
    before = newest_backup()
    time.sleep(1)  # backup names carry seconds
    with lock_held("restore", "carol@ops"):
        host("systemctl", "start", "--no-block", "webapp-backup.service")
        deadline = time.monotonic() + 30
        while "waiting for the lock: restore by carol@ops" not in (journal := backup_journal()):
            assert time.monotonic() < deadline, journal
            time.sleep(0.5)
        time.sleep(3)
        assert service_state() == "activating", backup_journal()
        assert newest_backup() == before
    deadline = time.monotonic() + 120
    while service_state() == "activating":
        assert time.monotonic() < deadline, backup_journal()
        time.sleep(0.5)
    assert service_state() == "inactive", backup_journal()
    after = newest_backup()
    assert after != before

    # A lock that outlives the wait: the backup fails, naming the holder; no file is written.
    with lock_held("restore", "carol@ops"):
        proc = host(WEBAPPCTL, "backup", "--defer", "2", check=False)
    assert proc.returncode == 1
    assert "another run holds the lock /app/releases/.lock: restore by carol@ops" in proc.stderr
    assert newest_backup() == after


def service_state() -> str:
    return host("systemctl", "show", "-p", "ActiveState", "--value", "webapp-backup.service").stdout.strip()


def backup_journal() -> str:
    return host("journalctl", "-u", "webapp-backup.service", "-n", "20", "--no-pager", check=False).stdout


def test_a_second_run_changes_only_the_new_backup(site: Site) -> None:
    proc = site.play("backup.yml")
    assert changed_tasks(proc.stdout) == ["webappctl : Run webappctl on the host: backup"], proc.stdout


def test_retention_keeps_the_newest_backups_with_checksums(site: Site) -> None:
    for _ in range(2):
        host(WEBAPPCTL, "backup")
        time.sleep(1)
    listing = host("find", BACKUP_DIR, "-maxdepth", "1", "-type", "f", "-printf", "%f\n").stdout.split()
    backups = sorted(n for n in listing if re.fullmatch(r"webapp-\d{8}T\d{6}Z-.+\.db", n))
    assert len(backups) == 3  # backup_keep
    for name in backups:
        assert f"{name}.sha256" in listing
        assert host("sh", "-c", f"cd {BACKUP_DIR} && sha256sum -c {name}.sha256").returncode == 0
        assert host("stat", "-c", "%U %a", f"{BACKUP_DIR}/{name}").stdout.split() == ["root", "600"]
    # No other file: retention removed the older backups together with their checksum files.
    assert set(listing) == set(backups) | {f"{n}.sha256" for n in backups}


def test_backup_works_while_the_app_is_stopped(site: Site, tmp_path: Path) -> None:
    items = api_items()
    host("docker", "stop", "webapp")
    try:
        report = json.loads(host(WEBAPPCTL, "backup").stdout)
    finally:
        host("docker", "start", "webapp")
        wait_healthy()
    assert report["integrity"] == "ok"
    assert backup_items(report["path"], tmp_path) == items


def test_backup_under_concurrent_writes_holds_every_acknowledged_record_and_restores(
    site: Site, tmp_path: Path
) -> None:
    """A write is acknowledged when its 201 has arrived: the app commits before it answers, so the
    row is in the database file (WAL) by then. The dbtool's copy is one read transaction, i.e. one
    point in time somewhere inside the backup.yml run. So, with one client writing in sequence:
    every write acknowledged before the run began is in the backup; the backup holds exactly a prefix
    of the sequence (no holes); nothing sent after the run ended is in it; and at most one write that
    was committed but not yet acknowledged (the one in flight) can be there too."""
    writer = Writer()
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    while len(writer.acked) < 50 and thread.is_alive():
        time.sleep(0.05)
    started = time.time()
    site.play("backup.yml", backup_s3_bucket=BUCKET, backup_s3_prefix="test/")
    finished = time.time()
    time.sleep(1)  # keep writing after the backup: those writes must not be in it
    writer.stop.set()
    thread.join(timeout=30)
    assert not writer.errors, writer.errors

    path = newest_backup()
    in_backup = backup_items(path, tmp_path)
    order = [name for name, _ in writer.sent]
    acked_ids = {name: item_id for name, item_id, _ in writer.acked}
    acked_before = [name for name, _, at in writer.acked if at < started]
    # The script names the file at the second it starts the copy (same clock: the host container
    # shares this kernel), so writes acknowledged before that second began are a tighter bound.
    stamp = datetime.strptime(Path(path).name.split("-")[1], "%Y%m%dT%H%M%SZ")
    copy_began = stamp.replace(tzinfo=UTC).timestamp()
    acked_before_copy = [name for name, _, at in writer.acked if at < copy_began]
    sent_before_end = {name for name, at in writer.sent if at < finished}
    written = [n for n in in_backup if n.startswith("w")]

    # 1. Every write acknowledged before the backup began is in it.
    assert set(acked_before) <= set(acked_before_copy) <= set(written)
    # 2. The backup is one point in time: exactly a prefix of the writer's sequence, no holes
    #    (a single sequential writer commits in the order it is acknowledged).
    assert written == [] or sorted(written) == order[: len(written)]
    # 3. Nothing sent after the backup finished is in it, and every record is the acknowledged one
    #    (at most the one in flight when the copy started can be there unacknowledged).
    assert set(written) <= sent_before_end
    unacked = [n for n in written if n not in acked_ids]
    assert len(unacked) <= 1
    assert all(in_backup[n] == acked_ids[n] for n in written if n in acked_ids)
    # The backup was taken under load: writes were acknowledged before it began and after it.
    assert len(acked_before) >= 50
    assert len(writer.acked) > len(written)

    print(
        f"concurrent backup: {len(acked_before)} acknowledged before the play, "
        f"{len(acked_before_copy)} before the copy's second, {len(written)} in the backup, "
        f"{len(writer.acked)} acknowledged in all, {len(unacked)} in flight"
    )

    # The restore brings back exactly the backup's records, through the API.
    before_restore = api_items()
    assert len(before_restore) > len(in_backup)
    site.play("restore.yml", backup_restore_source="file", backup_restore_file=path)
    assert api_items() == in_backup

    # The safety backup holds what the restore replaced.
    safety = newest_backup("pre-restore")
    assert backup_items(safety, tmp_path) == before_restore

    # The same backup landed in S3, encrypted, with its checksum.
    key = f"test/{HOST}/{Path(path).name}"
    head = site.s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    sha = host("sha256sum", path).stdout.split()[0]
    assert head["Metadata"]["sha256"] == sha


def test_restore_from_an_s3_object(site: Site, tmp_path: Path) -> None:
    session = requests.Session()
    post(session, f"before-{uuid.uuid4().hex[:6]}")
    site.play("backup.yml", backup_s3_bucket=BUCKET, backup_s3_prefix="s3test/", backup_compress=True)
    path = newest_backup()
    assert path.endswith(".db.gz")
    key = f"s3test/{HOST}/{Path(path).name}"
    expected = api_items()
    # Remove the local copy so only S3 has it, and change the data after the backup.
    host("rm", "-f", path, f"{path}.sha256")
    later = f"after-{uuid.uuid4().hex[:6]}"
    post(session, later)
    assert later in api_items()

    image = host("docker", "inspect", "-f", "{{.Image}}", "webapp").stdout
    settings = host("cat", "/app/.env").stdout
    proc = site.play(
        "restore.yml", backup_restore_source="s3", backup_s3_bucket=BUCKET, backup_restore_s3_object=key
    )
    assert f"Restored s3://{BUCKET}/{key}" in proc.flat
    assert api_items() == expected
    # The same release runs again on the restored database: same image, same settings.
    assert host("docker", "inspect", "-f", "{{.Image}}", "webapp").stdout == image
    assert host("cat", "/app/.env").stdout == settings
    assert host("stat", "-c", "%u:%g %a", "/app/data/app.db").stdout.split() == ["10001:10001", "640"]
    assert host("test", "-e", f"{BACKUP_DIR}/.restore", check=False).returncode != 0, "staging left behind"
    assert not list(Path("/tmp").glob("webapp-restore-*")), "controller copy left behind"


def test_no_write_is_lost_or_refused_while_a_restore_runs(site: Site, tmp_path: Path) -> None:
    # Writes keep arriving while the restore runs. The proxy holds them during the swap, so none
    # fails; each acknowledged one is either in the safety backup (acknowledged before the app
    # stopped) or in the restored database (acknowledged after the switch).
    target = fresh_backup(site)
    writer = Writer()
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(writer.acked) < 20:
        assert time.monotonic() < deadline and not writer.errors, writer.errors
        time.sleep(0.1)
    site.play("restore.yml", backup_restore_source="file", backup_restore_file=target)
    time.sleep(1)
    writer.stop.set()
    thread.join(timeout=45)
    assert not writer.errors, writer.errors[:5]
    in_safety = set(hostkit.db_items(HOST, newest_backup("pre-restore"), tmp_path))
    live = set(hostkit.db_items(HOST, "/app/data/app.db", tmp_path / "live"))
    missing = [name for name, item_id, _ in writer.acked if item_id not in in_safety | live]
    assert not missing, f"{len(missing)} of {len(writer.acked)} acknowledged writes lost"
    assert any(item_id in live for _, item_id, _ in writer.acked), "no write reached the restored database"


def test_a_restore_over_a_corrupt_database_keeps_its_raw_files(site: Site, tmp_path: Path) -> None:
    # The usual reason to restore: the live database fails its integrity check, so no consistent
    # safety backup can be taken. The raw files are then the only copy of that data: they are kept.
    # (The app stays stopped on the damaged file, as after a crash: nothing may touch the bytes.)
    target = fresh_backup(site)
    expected = backup_items(target, tmp_path)
    host("docker", "stop", "webapp")
    host("sh", "-c", "dd if=/dev/urandom of=/app/data/app.db bs=4096 seek=2 count=2 conv=notrunc status=none")
    corrupt = host("sha256sum", "/app/data/app.db").stdout.split()[0]
    proc = site.play("restore.yml", backup_restore_source="file", backup_restore_file=target)
    assert "could NOT be verified" in proc.flat, proc.stdout[-3000:]
    kept = re.search(r"its raw files are kept in (/[^\s';]+?)\.?[\s']", proc.flat)
    assert kept, proc.stdout[-3000:]
    assert host("sha256sum", f"{kept.group(1)}/app.db").stdout.split()[0] == corrupt
    assert api_items() == expected


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "is not a file on webapp-backup-test, and nothing was changed"),
        ("corrupt", "failed verification: dbtool check failed"),
        ("tampered", "does not match its checksum file"),
        ("unknown-source", "backup_restore_source"),
        ("missing-s3", "cannot download s3://webapp-backup-test/nope/none.db"),
    ],
)
def test_bad_input_is_refused_before_any_change(site: Site, case: str, message: str) -> None:
    good = newest_backup()
    extra: dict[str, object] = {"backup_restore_source": "file"}
    if case == "missing":
        extra["backup_restore_file"] = "/app/backups/does-not-exist.db"
    elif case == "corrupt":
        # A real backup with a page of its b-tree overwritten: still opens as SQLite, fails integrity.
        bad = "/root/corrupt.db"
        host(
            "sh", "-c", f"cp {good} {bad} && dd if=/dev/urandom of={bad} bs=4096 seek=2 count=2 conv=notrunc"
        )
        extra["backup_restore_file"] = bad
    elif case == "tampered":
        bad = "/root/tampered.db"
        # The checksum of other bytes: always wrong (a flipped first digit was a no-op 1 run in 16).
        wrong = "$(printf other | sha256sum | cut -d' ' -f1)"
        host("sh", "-c", f"cp {good} {bad} && printf '%s  %s\\n' {wrong} tampered.db > {bad}.sha256")
        assert host("sha256sum", good).stdout.split()[0] != host("cat", f"{bad}.sha256").stdout.split()[0]
        extra["backup_restore_file"] = bad
    elif case == "unknown-source":
        extra["backup_restore_source"] = "tape"
    else:
        extra = {
            "backup_restore_source": "s3",
            "backup_s3_bucket": BUCKET,
            "backup_restore_s3_object": "nope/none.db",
        }
    items = api_items()
    state = db_state()
    proc = site.play("restore.yml", check=False, **extra)
    assert proc.returncode != 0
    assert message in proc.flat, proc.stdout[-3000:]
    assert db_state() == state
    assert api_items() == items


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"backup_keep": 0}, "backup_keep (got 0)"),
        ({"backup_dir": "backups"}, 'backup_dir must be an absolute path (got "backups")'),
        ({"backup_timer_defer_sec": -1}, "backup_timer_defer_sec to 0 or more seconds"),
        (
            {"backup_s3_bucket": BUCKET, "backup_s3_prefix": "", "backup_s3_expire_days": 30},
            "an expiry rule without a prefix would cover the whole bucket",
        ),
    ],
    ids=["keep-0", "dir-relative", "defer-negative", "expiry-without-prefix"],
)
def test_bad_backup_settings_are_refused_before_any_change(site: Site, extra: dict, message: str) -> None:
    state = db_state()
    proc = site.play("backup.yml", check=False, **extra)
    assert proc.returncode != 0
    assert message in proc.flat, proc.stdout[-3000:]
    assert db_state() == state
    with pytest.raises(site.s3.exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        site.s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)


@pytest.mark.parametrize("playbook", ["restore.yml", "backup.yml"])
def test_restore_and_backup_are_refused_while_a_deploy_holds_the_lock(site: Site, playbook: str) -> None:
    # A deploy (or rollback) in progress on the host: neither may read or swap its database.
    source = fresh_backup(site) if playbook == "restore.yml" else ""
    with lock_held("deploy", "alice@ops"):
        items = api_items()
        state = db_state()
        extra = {"backup_restore_source": "file", "backup_restore_file": source} if source else {}
        proc = site.play(playbook, check=False, backup_lock_wait=2, **extra)
        assert proc.returncode != 0
        assert "another run holds the lock" in proc.flat, proc.stdout[-3000:]
        assert "deploy by alice@ops" in proc.flat, proc.stdout[-3000:]
        assert db_state() == state
        assert api_items() == items


def test_a_restore_is_refused_for_more_than_one_host(site: Site, tmp_path: Path) -> None:
    # Without -l, an inventory of two hosts would get one backup restored onto both.
    two = yaml.safe_load(site.inventory.read_text())
    two["webapp"]["hosts"]["webapp-other"] = dict(two["webapp"]["hosts"][HOST])
    inventory = tmp_path / "two.yml"
    inventory.write_text(yaml.safe_dump(two))
    source = fresh_backup(site)
    state = db_state()
    proc = run_playbook(
        ROOT / "playbooks" / "restore.yml",
        "-i",
        str(inventory),
        extra_vars={"backup_restore_source": "file", "backup_restore_file": source},
        env=site.env,
        check=False,
    )
    assert proc.returncode != 0
    # Two hosts on SQLite are refused by the fleet's shape, the first check of every playbook (each
    # host would keep a database of its own), before the restore's own one-host rule is reached.
    assert "app_database is sqlite, and the inventory asks for 2 hosts" in proc.flat, proc.stdout[-3000:]
    assert "Nothing was changed" in proc.flat
    assert db_state() == state


def test_a_restore_that_fails_its_health_gate_is_undone(site: Site, tmp_path: Path) -> None:
    # A sound backup of a schema this image cannot run (an unknown migration revision): it passes
    # verification, but the app refuses to start on it. The restore must put the old database back.
    good = fresh_backup(site)
    local = tmp_path / "future.db"
    local.write_bytes(
        subprocess.run(["docker", "exec", HOST, "cat", good], capture_output=True, check=True).stdout
    )
    with sqlite3.connect(local) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    subprocess.run(["docker", "cp", str(local), f"{HOST}:/root/future.db"], check=True)
    items = api_items()
    proc = site.play(
        "restore.yml",
        check=False,
        backup_restore_source="file",
        backup_restore_file="/root/future.db",
        app_health_timeout=10,
    )
    assert proc.returncode != 0
    assert "Restore of /root/future.db FAILED" in proc.flat, proc.stdout[-3000:]
    assert "the database was restored from the copy taken before the swap" in proc.flat
    assert "answers /health with 200" in proc.flat
    wait_healthy()
    assert api_items() == items
    revision = json.loads(requests.get(f"{APP}/health", timeout=5).text)["revision"]
    assert revision != "ffffffffffff"
