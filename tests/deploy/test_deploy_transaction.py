"""The deploy transaction on a real host: a Debian 12 systemd container reached over ssh
(scripts/host-container.sh), configured and deployed with the project's playbooks, the app answering
on 127.0.0.1:18088. One host for the module; the tests run in file order and each one starts from the
state the one before left (the release history is the thing under test).

Images, built here: webapp:test-v1 and webapp:test-v2 (scripts/build-image.sh with VERSION), a broken
release whose entrypoint prints the secret and exits 1, and an "ahead" release whose Alembic has one
more revision than v1/v2 know."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hostkit
import pytest
import requests
import yaml
from hostkit import ROOT, VENV_BIN

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = "webapp-deploy-test"
SSH_PORT = 2228
APP = "http://127.0.0.1:18088"
SECRET = f"deploy-test-secret-{uuid.uuid4().hex[:12]}"
CONTAINER = "webapp"
RELEASES = "/app/releases"
LOCK = f"{RELEASES}/.deploy.lock"
KEEP = 2
V1, V2, BROKEN, AHEAD = "webapp:test-v1", "webapp:test-v2", "webapp:test-broken", "webapp:test-ahead"

BROKEN_DOCKERFILE = f"""FROM {V2}
ENV APP_VERSION=broken
ENTRYPOINT ["/bin/sh", "-c", \\
  "echo \\"broken release: refusing to start (SECRET_KEY=$SECRET_KEY)\\" >&2; exit 1"]
"""
AHEAD_DOCKERFILE = f"""FROM {V2}
ENV APP_VERSION=v3-ahead
COPY 0002_ahead.py /app/app/migrations/versions/0002_ahead.py
"""
AHEAD_MIGRATION = '''"""A table the earlier releases do not know.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("ahead_notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("ahead_notes")
'''


# --- the host and the controller ------------------------------------------------------------------


def on_host(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command on the test host (through the engine: these are observations, not actions)."""
    return subprocess.run(["docker", "exec", HOST, *command], capture_output=True, text=True, check=check)


def image_id(ref: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True, check=True
    ).stdout.strip()


def running_image() -> str:
    return on_host("docker", "inspect", "-f", "{{.Image}}", CONTAINER).stdout.strip()


def release(name: str) -> dict | None:
    found = on_host("cat", f"{RELEASES}/{name}.json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def wait_healthy(timeout: float = 60) -> None:
    hostkit.wait_healthy(APP, timeout=timeout, interval=0.3)


def build(tag: str, dockerfile: str, files: dict[str, str], where: Path) -> None:
    where.mkdir()
    (where / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (where / name).write_text(text)
    subprocess.run(["docker", "build", "-q", "-t", tag, str(where)], check=True, capture_output=True)


@dataclass
class Site:
    inventory: Path

    def play(self, playbook: str, *, check: bool = True, **extra: object) -> subprocess.CompletedProcess[str]:
        playbook_path = ROOT / "playbooks" / playbook
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook_path)]
        if extra:
            cmd += ["-e", json.dumps(extra)]
        proc = subprocess.run(
            cmd, cwd=ROOT, env=hostkit.ansible_env(), capture_output=True, text=True, timeout=600, check=False
        )
        proc.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
        if check and proc.returncode != 0:
            pytest.fail(f"{playbook} {extra} failed ({proc.returncode}):\n{proc.output[-6000:]}")
        return proc


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("deploy")
    for tag, version in ((V1, "v1"), (V2, "v2")):
        subprocess.run(
            [str(ROOT / "scripts" / "build-image.sh"), tag], env={**os.environ, "VERSION": version},
            check=True, timeout=900, capture_output=True,
        )  # fmt: skip
    build(BROKEN, BROKEN_DOCKERFILE, {}, work / "broken")
    build(AHEAD, AHEAD_DOCKERFILE, {"0002_ahead.py": AHEAD_MIGRATION}, work / "ahead")
    hostkit.host_up(HOST, SSH_PORT, 18088)
    inventory = work / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                },
                "webapp": {
                    "hosts": {HOST: hostkit.host_vars(SSH_PORT)},
                    "vars": {
                        "app_image": V1,
                        "app_image_source": "archive",
                        "app_image_archive_dir": str(work / "archives"),
                        "app_env": {"SECRET_KEY": SECRET},
                        "app_health_timeout": 20,
                        "app_keep_images": KEEP,
                    },
                },
            }
        )
    )
    the_site = Site(inventory)
    try:
        the_site.play("configure.yml")
        the_site.play("deploy.yml")
        wait_healthy()
        yield the_site
    finally:
        hostkit.host_down(HOST)
        images = [V1, V2, BROKEN, AHEAD]
        subprocess.run(["docker", "image", "rm", "-f", *images], check=False, capture_output=True)


# --- the data -------------------------------------------------------------------------------------


def post(name: str) -> str:
    return hostkit.post_item(APP, name, {"by": "deploy-test"})


def served() -> dict[str, str]:
    """Every item the app serves, id -> name."""
    return {item["id"]: item["name"] for item in hostkit.served_items(APP)}


def db_items(path: str, tmp_path: Path) -> dict[str, str]:
    """The items inside a database file on the host (with its -wal, if any), id -> name."""
    return hostkit.db_items(HOST, path, tmp_path)


@pytest.fixture(scope="module")
def written(site: Site) -> dict[str, str]:
    """Items written under v1; every later step must keep them."""
    return {post(f"v1-{n}"): f"v1-{n}" for n in range(5)}


def assert_items_kept(expected: dict[str, str]) -> None:
    now = served()
    missing = {key: name for key, name in expected.items() if now.get(key) != name}
    assert not missing, f"items lost: {missing}"


# --- the tests, in order --------------------------------------------------------------------------


def test_first_deploy_records_a_release_without_previous(site: Site):
    assert running_image() == image_id(V1)
    assert release("current")["image"] == V1
    assert release("current")["image_id"] == image_id(V1)
    assert release("previous") is None
    assert on_host("test", "-e", LOCK, check=False).returncode == 1, "the deploy lock was left behind"


def test_redeploying_the_same_image_changes_nothing(site: Site, written: dict[str, str]):
    backups_before = on_host("ls", "-A", "/app/backups").stdout
    proc = site.play("deploy.yml")
    assert "changed=0" in proc.output and "failed=0" in proc.output, proc.output[-3000:]
    assert on_host("ls", "-A", "/app/backups").stdout == backups_before, "a no-op deploy took a backup"
    assert_items_kept(written)


def test_failed_deploy_puts_the_previous_release_and_its_data_back(site: Site, written: dict[str, str]):
    records = {name: release(name) for name in ("current", "previous")}
    proc = site.play("deploy.yml", check=False, app_image=BROKEN)
    assert proc.returncode != 0, proc.output[-3000:]
    message = proc.output
    for expected in (
        f"Deploy of {BROKEN}",
        "FAILED: it did not answer /health with 200 within 20s",
        "exit code 1",
        "broken release: refusing to start (SECRET_KEY=[REDACTED])",
        f"Undone: the release that ran before, {V1} (",
        "is back with its settings and answers /health with 200",
        "the database was restored from the pre-deploy backup /app/backups/pre-deploy/pre-deploy-",
        "the failed release's database is kept as /app/data/app.db.failed-",
        "release records",
    ):
        assert expected in message, f"{expected!r} not in:\n{message[-4000:]}"
    assert SECRET not in message, "the secret reached the Ansible output"
    wait_healthy()
    assert running_image() == image_id(V1)
    assert {name: release(name) for name in ("current", "previous")} == records
    assert_items_kept(written)
    aside = on_host("sh", "-c", "ls /app/data/app.db.failed-*").stdout.split()
    assert aside, "the failed release's database was not kept"
    assert on_host("test", "-e", LOCK, check=False).returncode == 1, "the deploy lock was left behind"
    leftovers = on_host("sh", "-c", "ls -A /app | grep '^.env.'", check=False).stdout
    assert not leftovers, f"a settings backup was left: {leftovers}"


def test_deploy_pairs_a_verified_backup_with_the_outgoing_release(
    site: Site, written: dict[str, str], tmp_path: Path
):
    site.play("deploy.yml", app_image=V2)
    wait_healthy()
    assert running_image() == image_id(V2)
    current, previous = release("current"), release("previous")
    assert current["image"] == V2 and current["image_id"] == image_id(V2)
    assert previous["image"] == V1 and previous["image_id"] == image_id(V1)
    assert previous["revision"] == "0001"
    assert previous["backup"].startswith("/app/backups/pre-deploy/pre-deploy-")
    assert on_host("stat", "-c", "%U %a", previous["backup"]).stdout.split() == ["root", "600"]
    assert db_items(previous["backup"], tmp_path) == written
    tagged = on_host("docker", "image", "inspect", "-f", "{{.Id}}", "webapp:previous").stdout.strip()
    assert tagged == image_id(V1)
    assert_items_kept(written)


def test_a_held_deploy_lock_refuses_a_second_deploy(site: Site):
    holder = {"token": "other-run", "pid": "4242", "owner": "alice@ops-laptop", "action": "deploy",
              "started": "2030-01-01T00:00:00Z"}  # fmt: skip
    on_host("sh", "-c", f"printf '%s\\n' '{json.dumps(holder)}' > {LOCK}")
    try:
        records = {name: release(name) for name in ("current", "previous")}
        started = on_host("docker", "inspect", "-f", "{{.State.StartedAt}}", CONTAINER).stdout
        proc = site.play("deploy.yml", check=False, app_image=V1)
        assert proc.returncode != 0
        for expected in (
            "holds the deploy lock",
            LOCK,
            "alice@ops-laptop",
            "pid 4242",
            "2030-01-01T00:00:00Z",
            "Nothing was changed",
            f"sudo rm {LOCK}",
        ):
            assert expected in proc.output, f"{expected!r} not in:\n{proc.output[-3000:]}"
        assert on_host("cat", LOCK).stdout.strip() == json.dumps(holder), "the refused run touched the lock"
        assert {name: release(name) for name in ("current", "previous")} == records
        assert on_host("docker", "inspect", "-f", "{{.State.StartedAt}}", CONTAINER).stdout == started
    finally:
        on_host("rm", "-f", LOCK)


def test_rollback_goes_back_to_the_previous_release(site: Site, written: dict[str, str]):
    before = release("current")
    site.play("rollback.yml")
    wait_healthy()
    assert running_image() == image_id(V1)
    current, previous = release("current"), release("previous")
    assert current["image_id"] == image_id(V1) and current["by"] == "rollback"
    assert previous["image_id"] == before["image_id"] == image_id(V2)
    assert previous["revision"] == "0001"
    assert previous["backup"].startswith("/app/backups/pre-deploy/pre-rollback-")
    assert_items_kept(written)


@pytest.fixture(scope="module")
def ahead(site: Site, written: dict[str, str]) -> dict[str, str]:
    """Deploy the release whose schema is one revision ahead, and write an item under it."""
    site.play("deploy.yml", app_image=AHEAD)
    wait_healthy()
    assert release("previous")["image_id"] == image_id(V1) and release("previous")["revision"] == "0001"
    return {post("under-ahead"): "under-ahead"}


def test_image_only_rollback_is_refused_when_the_schema_moved(site: Site, ahead: dict[str, str]):
    records = {name: release(name) for name in ("current", "previous")}
    proc = site.play("rollback.yml", check=False)
    assert proc.returncode != 0
    for expected in (
        f"Refusing to roll back {HOST} to {V1} with the image only",
        "schema revision 0002",
        "ran at revision 0001",
        records["previous"]["backup"],
        "ansible-playbook playbooks/rollback.yml -e rollback_restore_database=true",
        "Nothing was changed",
    ):
        assert expected in proc.output, f"{expected!r} not in:\n{proc.output[-3000:]}"
    assert running_image() == image_id(AHEAD)
    assert {name: release(name) for name in ("current", "previous")} == records
    assert_items_kept(ahead)


def test_rollback_with_the_paired_backup_restores_schema_and_data(
    site: Site, written: dict[str, str], ahead: dict[str, str], tmp_path: Path
):
    site.play("rollback.yml", rollback_restore_database=True)
    wait_healthy()
    assert running_image() == image_id(V1)
    assert_items_kept(written)
    assert not set(ahead) & set(served()), "the database was not restored to the paired backup"
    # Nothing is lost: the database the rollback replaced is kept aside, with the item written under it.
    replaced = on_host("sh", "-c", "ls /app/data/app.db.replaced-*").stdout.split()
    assert len(replaced) == 1 and ahead.items() <= db_items(replaced[0], tmp_path).items()
    previous = release("previous")
    assert previous["image_id"] == image_id(AHEAD) and previous["revision"] == "0002"
    assert ahead.items() <= db_items(previous["backup"], tmp_path).items()


def test_old_images_and_backups_are_pruned_but_never_the_rollback_target(site: Site):
    current, previous = release("current"), release("previous")
    images = on_host("docker", "image", "ls", "--no-trunc", "-q", "webapp").stdout.split()
    assert current["image_id"] in images and previous["image_id"] in images
    assert len(set(images)) <= 1 + KEEP, images
    backups = on_host("sh", "-c", "ls /app/backups/pre-deploy/pre-*.db").stdout.split()
    assert previous["backup"] in backups and len(backups) <= KEEP, backups


@dataclass
class Writer:
    """One client POSTing items in sequence; an item is acknowledged when its 201 arrived."""

    acked: dict[str, str] = field(default_factory=dict)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        n = 0
        while not self.stop.is_set():
            n += 1
            name = f"load-{n}"
            try:
                response = session.post(f"{APP}/api/items", json={"name": name, "data": {"n": n}}, timeout=3)
            except requests.RequestException:
                self.errors += 1
                time.sleep(0.05)
                continue
            if response.status_code == 201:
                self.acked[response.json()["id"]] = name


def test_sigkill_under_write_load_loses_no_acknowledged_write(site: Site):
    writer = Writer()
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    time.sleep(3)
    acked_before_kill = len(writer.acked)
    on_host("docker", "kill", "-s", "KILL", CONTAINER)
    assert on_host("docker", "inspect", "-f", "{{.State.Running}}", CONTAINER).stdout.strip() == "false"
    time.sleep(1)
    # Docker counts a kill as a deliberate stop (no restart policy applies): start it as an operator
    # would; the writer keeps trying meanwhile.
    on_host("docker", "start", CONTAINER)
    wait_healthy()
    time.sleep(1)
    writer.stop.set()
    thread.join(timeout=10)
    assert acked_before_kill > 20, f"only {acked_before_kill} writes before the kill: no load to speak of"
    assert writer.errors > 0, "no request failed: the kill did not land while the writer was running"
    lost = {
        key: name
        for key, name in writer.acked.items()
        if requests.get(f"{APP}/api/items/{key}", timeout=5).status_code != 200
    }
    assert not lost, (
        f"{len(lost)} of {len(writer.acked)} acknowledged writes lost: {sorted(lost.values())[:9]}"
    )
