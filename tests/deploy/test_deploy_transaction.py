"""The deploy transaction on a real host: a Debian 12 systemd container reached over ssh
(scripts/host-container.sh), configured and deployed with the project's playbooks, the app answering
on 127.0.0.1:18088. One host for the module; the tests run in file order and each one starts from the
state the one before left (the release history is the thing under test). The host, the images and
the helpers are in conftest.py and deploy_helpers.py."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hostkit
import pytest
import requests
from deploy_helpers import (
    AHEAD,
    AHEAD_BROKEN,
    APP,
    BROKEN,
    CONTAINER,
    HOST,
    KEEP,
    LOCK,
    RELEASES,
    SECRET,
    SSH_PORT,
    V1,
    V2,
    Site,
    assert_items_kept,
    build,
    db_items,
    db_revision,
    host_file,
    image_id,
    on_host,
    post,
    put_host_file,
    records,
    release,
    running_image,
    served,
    started_at,
    wait_healthy,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


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
    before = records()
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
    assert records() == before
    assert_items_kept(written)
    aside = on_host("sh", "-c", "ls /app/data/app.db.failed-*").stdout.split()
    assert aside, "the failed release's database was not kept"
    assert on_host("test", "-e", LOCK, check=False).returncode == 1, "the deploy lock was left behind"
    leftovers = on_host("sh", "-c", "ls -A /app | grep '^.env.'", check=False).stdout
    assert not leftovers, f"a settings backup was left: {leftovers}"


@pytest.fixture(scope="module")
def verbose_failed_deploy(
    site: Site, written: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """A deploy of the broken release with new settings, run with -v --diff; the settings file
    before it."""
    settings = host_file("/app/.env")
    proc = site.play(
        "deploy.yml",
        "-v",
        "--diff",
        check=False,
        app_image=BROKEN,
        app_env={"SECRET_KEY": SECRET, "LOG_LEVEL": "DEBUG"},
    )
    assert proc.returncode != 0, proc.output[-3000:]
    wait_healthy()
    return proc, settings


def test_verbose_output_never_shows_the_secret(site: Site, verbose_failed_deploy: tuple):
    # The container tasks return its inspect data (Config.Env holds SECRET_KEY): -v and --diff
    # would print it unless they are no_log.
    failed, _ = verbose_failed_deploy
    unchanged = site.play("deploy.yml", "-v", "--diff")
    for proc in (failed, unchanged):
        # (-v prints the results of the tasks that are not no_log, e.g. the image's inspect data)
        assert "    images:\n" in proc.output, "the run was not verbose: the test proves nothing"
        assert SECRET not in proc.output, "the secret reached the verbose Ansible output"
    # What the operator needs still comes from the explicit (redacted) reports.
    for expected in (
        f"Deploy of {BROKEN}",
        "broken release: refusing to start (SECRET_KEY=[REDACTED])",
        f"Undone: the release that ran before, {V1} (",
    ):
        assert expected in failed.output, f"{expected!r} not in:\n{failed.output[-4000:]}"


def test_a_failed_deploy_puts_the_previous_settings_back_and_keeps_no_copy(verbose_failed_deploy: tuple):
    _, settings = verbose_failed_deploy
    assert host_file("/app/.env") == settings, "the failed release's settings were left in place"
    # The copy kept for the undo holds the old secrets: gone once it was put back.
    leftovers = on_host("sh", "-c", "ls -A /app | grep '^.env.'", check=False).stdout
    assert not leftovers, f"a settings backup was left: {leftovers}"
    assert running_image() == image_id(V1)


def test_a_failed_image_delivery_leaves_the_settings_alone(site: Site):
    settings, started = host_file("/app/.env"), started_at()
    proc = site.play(
        "deploy.yml",
        check=False,
        app_image="webapp:test-missing",
        app_env={"SECRET_KEY": SECRET, "LOG_LEVEL": "DEBUG"},
    )
    assert proc.returncode != 0 and "has no image webapp:test-missing" in proc.output, proc.output[-3000:]
    assert host_file("/app/.env") == settings, "settings for a release never delivered were written"
    leftovers = on_host("sh", "-c", "ls -A /app | grep '^.env.'", check=False).stdout
    assert not leftovers, f"a settings backup was left: {leftovers}"
    assert started_at() == started


@pytest.fixture
def small_data_volume(site: Site) -> Iterator[None]:
    """/app/data on a small tmpfs holding a copy of the data, for a disk that fills up; afterwards the
    data (as the test left it) goes back to the host's disk."""
    on_host("docker", "stop", CONTAINER)
    on_host("sh", "-c", "mkdir -p /root/data-keep && cp -a /app/data/. /root/data-keep/"
            " && mount -t tmpfs -o size=16m,mode=0750,uid=10001,gid=10001 tmpfs /app/data"
            " && cp -a /root/data-keep/. /app/data/")  # fmt: skip
    on_host("docker", "start", CONTAINER)
    wait_healthy()
    try:
        yield
    finally:
        on_host("rm", "-f", "/app/data/filler")
        on_host("docker", "stop", CONTAINER, check=False)
        on_host("sh", "-c", "cp -a /app/data/. /root/data-keep/ && umount /app/data"
                " && cp -a /root/data-keep/. /app/data/ && rm -rf /root/data-keep")  # fmt: skip


def test_a_failed_database_restore_leaves_the_live_database_and_says_where_the_data_is(
    site: Site, written: dict[str, str], small_data_volume: None, tmp_path: Path
):
    # Big items, so that the pre-deploy backup cannot be copied back into the room left.
    bulky = {post(f"bulky-{n}", {"blob": "x" * 600_000}): f"bulky-{n}" for n in range(3)}
    on_host("docker", "stop", CONTAINER)
    size = int(on_host("stat", "-c", "%s", "/app/data/app.db").stdout)
    assert size > 1_500_000, f"the database is only {size} bytes"
    room = int(on_host("df", "--output=avail", "-B1", "/app/data").stdout.split()[-1])
    on_host("fallocate", "-l", str(room - size // 2), "/app/data/filler")
    on_host("docker", "start", CONTAINER)
    wait_healthy()
    beside = set(on_host("ls", "-A", "/app/data").stdout.split())
    proc = site.play("deploy.yml", check=False, app_image=BROKEN)
    assert proc.returncode != 0, proc.output[-3000:]
    for expected in (
        "The database could NOT be restored from the pre-deploy backup /app/backups/pre-deploy/pre-deploy-",
        "/app/data/app.db is untouched",
        f"The release that ran before, {V1} (",
        "was NOT started again",
        "playbooks/restore.yml",
    ):
        assert expected in proc.output, f"{expected!r} not in:\n{proc.output[-4000:]}"
    backup = proc.output.split("backup_restore_file=", 1)[1].split(")", 1)[0]
    assert on_host("test", "-s", backup, check=False).returncode == 0, (
        f"the named backup {backup} is not there"
    )
    # The live database was never moved aside: it is all there, nothing half-copied beside it.
    live = db_items("/app/data/app.db", tmp_path)
    assert {**written, **bulky}.items() <= live.items()
    added = set(on_host("ls", "-A", "/app/data").stdout.split()) - beside
    assert not [name for name in added if name.startswith("app.db.")], added
    assert on_host("docker", "ps", "-aq", "-f", f"name=^{CONTAINER}$").stdout.strip() == "", (
        "a release was started"
    )
    assert on_host("test", "-e", LOCK, check=False).returncode == 1, "the deploy lock was left behind"


def test_deploying_again_after_a_failed_restore_brings_the_data_back(site: Site, written: dict[str, str]):
    site.play("deploy.yml")
    wait_healthy()
    assert running_image() == image_id(V1)
    assert_items_kept(written)
    bulky = [key for key, name in served().items() if name.startswith("bulky-")]
    assert len(bulky) == 3
    for key in bulky:  # the later tests compare backups with `written` exactly
        deleted = requests.delete(f"{APP}/api/items/{key}", headers=hostkit.auth_headers(APP), timeout=10)
        assert deleted.status_code in (200, 204)


def test_a_failed_first_deploy_onto_an_existing_database_restores_it(
    site: Site, written: dict[str, str], tmp_path: Path
):
    # A new instance with the data volume re-attached: a database, but no container and no records.
    kept = host_file(f"{RELEASES}/current.json")  # v1, with no previous release
    on_host("docker", "rm", "-f", CONTAINER)
    on_host("rm", "-f", f"{RELEASES}/current.json", f"{RELEASES}/previous.json")
    try:
        proc = site.play("deploy.yml", check=False, app_image=AHEAD_BROKEN)
        assert proc.returncode != 0, proc.output[-3000:]
        for expected in (
            f"Deploy of {AHEAD_BROKEN}",
            "There was no previous release to go back to",
            "the database was restored from the pre-deploy backup /app/backups/pre-deploy/pre-deploy-",
            "(revision 0002)",
            "the failed release's database is kept as /app/data/app.db.failed-",
        ):
            assert expected in proc.output, f"{expected!r} not in:\n{proc.output[-4000:]}"
        assert db_revision("/app/data/app.db", tmp_path) == "0002", (
            "the failed release's migration stayed applied"
        )
        assert written.items() <= db_items("/app/data/app.db", tmp_path).items()
        aside = proc.output.split("the failed release's database is kept as ", 1)[1].split()[0].rstrip(".")
        assert db_revision(aside, tmp_path) == "0003"
    finally:
        on_host("docker", "rm", "-f", CONTAINER, check=False)
        put_host_file(f"{RELEASES}/current.json", kept)
    site.play("deploy.yml")
    wait_healthy()
    assert running_image() == image_id(V1)
    assert_items_kept(written)


def test_deploy_pairs_a_verified_backup_with_the_outgoing_release(
    site: Site, written: dict[str, str], tmp_path: Path
):
    site.play("deploy.yml", app_image=V2)
    wait_healthy()
    assert running_image() == image_id(V2)
    current, previous = release("current"), release("previous")
    assert current["image"] == V2 and current["image_id"] == image_id(V2)
    assert previous["image"] == V1 and previous["image_id"] == image_id(V1)
    assert previous["revision"] == "0002"
    assert previous["backup"].startswith("/app/backups/pre-deploy/pre-deploy-")
    assert on_host("stat", "-c", "%U %a", previous["backup"]).stdout.split() == ["root", "600"]
    assert db_items(previous["backup"], tmp_path) == written
    tagged = on_host("docker", "image", "inspect", "-f", "{{.Id}}", "webapp:previous").stdout.strip()
    assert tagged == image_id(V1)
    assert_items_kept(written)


def test_a_failure_while_recording_the_release_leaves_both_records_as_they_were(
    site: Site, written: dict[str, str]
):
    before = records()
    # The next current.json cannot be written (a directory holds its temporary name).
    on_host("mkdir", "-p", f"{RELEASES}/current.json.new/blocker")
    proc = site.play("deploy.yml", check=False, app_image=V1)
    assert proc.returncode != 0, proc.output[-3000:]
    assert f"Undone: the release that ran before, {V2} (" in proc.output, proc.output[-3000:]
    wait_healthy()
    assert running_image() == image_id(V2)
    assert records() == before, "the release records changed although the deploy was undone"
    assert on_host("sh", "-c", f"ls -A {RELEASES} | grep '[.]new$'", check=False).stdout == ""
    assert_items_kept(written)


def test_a_held_deploy_lock_refuses_a_second_deploy(site: Site):
    holder = {"token": "other-run", "pid": "4242", "owner": "alice@ops-laptop", "action": "deploy",
              "started": "2030-01-01T00:00:00Z"}  # fmt: skip
    on_host("sh", "-c", f"printf '%s\\n' '{json.dumps(holder)}' > {LOCK}")
    try:
        before, started = records(), started_at()
        proc = site.play("deploy.yml", check=False, app_image=V1)
        assert proc.returncode != 0
        for expected in (
            "holds the deploy lock",
            LOCK,
            "alice@ops-laptop",
            "pid 4242",
            "2030-01-01T00:00:00Z",
            "Nothing was changed",
            f"`ssh -p {SSH_PORT} root@127.0.0.1 sudo rm {LOCK}`",
        ):
            assert expected in proc.output, f"{expected!r} not in:\n{proc.output[-3000:]}"
        assert on_host("cat", LOCK).stdout.strip() == json.dumps(holder), "the refused run touched the lock"
        assert records() == before
        assert started_at() == started
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
    assert previous["revision"] == "0002"
    assert previous["backup"].startswith("/app/backups/pre-deploy/pre-rollback-")
    assert_items_kept(written)


def test_a_second_rollback_changes_nothing(site: Site, written: dict[str, str]):
    # previous.json names the release just rolled away from: going "back" to it would go forward.
    assert release("current")["rolled_back_from"] == image_id(V2)
    before, started = records(), started_at()
    for extra in ({}, {"rollback_restore_database": True}):
        proc = site.play("rollback.yml", **extra)
        assert "changed=0" in proc.output and "failed=0" in proc.output, proc.output[-3000:]
        expected = f"already rolled back from {V2} to {V1}; to go forward, deploy {V2} with deploy.yml"
        assert expected in " ".join(proc.output.split()), proc.output[-3000:]  # (the report wraps lines)
    assert running_image() == image_id(V1)
    assert records() == before
    assert started_at() == started
    assert_items_kept(written)


@pytest.fixture(scope="module")
def ahead(site: Site, written: dict[str, str]) -> dict[str, str]:
    """Deploy the release whose schema is one revision ahead, and write an item under it."""
    site.play("deploy.yml", app_image=AHEAD)
    wait_healthy()
    assert release("previous")["image_id"] == image_id(V1) and release("previous")["revision"] == "0002"
    assert "rolled_back_from" not in release("current"), "a deploy kept the rollback marker"
    return {post("under-ahead"): "under-ahead"}


def test_image_only_rollback_is_refused_when_the_schema_moved(site: Site, ahead: dict[str, str]):
    before = records()
    proc = site.play("rollback.yml", check=False)
    assert proc.returncode != 0
    for expected in (
        f"Refusing to roll back {HOST} to {V1} with the image only",
        "schema revision 0003",
        "ran at revision 0002",
        before["previous"]["backup"],
        "ansible-playbook playbooks/rollback.yml -e rollback_restore_database=true",
        "Nothing was changed",
    ):
        assert expected in proc.output, f"{expected!r} not in:\n{proc.output[-3000:]}"
    assert running_image() == image_id(AHEAD)
    assert records() == before
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
    assert previous["image_id"] == image_id(AHEAD) and previous["revision"] == "0003"
    assert ahead.items() <= db_items(previous["backup"], tmp_path).items()


def test_old_images_and_backups_are_pruned_but_never_the_rollback_target(site: Site):
    current, previous = release("current"), release("previous")
    images = on_host("docker", "image", "ls", "--no-trunc", "-q", "webapp").stdout.split()
    assert current["image_id"] in images and previous["image_id"] in images
    assert len(set(images)) <= 1 + KEEP, images
    backups = on_host("sh", "-c", "ls /app/backups/pre-deploy/pre-*.db").stdout.split()
    assert previous["backup"] in backups and len(backups) <= KEEP, backups


def test_images_replaced_under_a_reused_tag_are_pruned_too(site: Site, tmp_path: Path):
    # Four builds deployed one after another under one tag: each replaced build loses the tag (it is
    # dangling, so `docker image ls REPOSITORY` no longer shows it), yet it is pruned like any older
    # image; the running one, the rollback target and one more (KEEP) stay.
    reused = "webapp:test-reused"
    run = uuid.uuid4().hex[:8]  # fresh builds: a cached one would carry an older creation time
    ids = []
    for n in range(4):
        build(reused, f"FROM {V2}\nLABEL test.build={run}-{n}\n", {}, tmp_path / f"build-{n}")
        ids.append(image_id(reused))
        site.play("deploy.yml", app_image=reused)
    assert release("current")["image_id"] == ids[3] and release("previous")["image_id"] == ids[2]
    on_host_ids = set(on_host("docker", "image", "ls", "--all", "--no-trunc", "--quiet").stdout.split())
    assert {ids[1], ids[2], ids[3]} <= on_host_ids
    assert ids[0] not in on_host_ids, "a build replaced under a reused tag was never pruned"
    history = host_file("/app/releases/images").decode().split()
    assert ids[0] not in history and ids[3] in history


@dataclass
class Writer:
    """One client POSTing items in sequence; an item is acknowledged when its 201 arrived."""

    acked: dict[str, str] = field(default_factory=dict)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        session.headers.update(hostkit.auth_headers(APP))
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
