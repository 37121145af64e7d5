"""webappctl's transactions end to end on the local engine: deploy, no-op, failed deploy undone,
rollback (image only, refused across a schema change, with the paired database), restore, backup.
The tests run in file order on one host; each starts from the state the one before left."""

from __future__ import annotations

from pathlib import Path

import pytest
from ctlhost import SECRET, CtlHost
from support import testimages as images

pytestmark = [pytest.mark.docker]


def test_first_deploy_starts_the_release_behind_the_proxy(host: CtlHost):
    outcome = host.deploy(images.V1)
    assert outcome.rc == 0 and outcome.state == "committed", outcome
    assert host.health()["version"] == "v1"
    assert host.running_image() == images.image_id(images.V1)
    assert host.lock_free()
    published = host.ctl("status").result
    assert published["current"]["image_id"] == images.image_id(images.V1)


def test_the_same_deploy_again_changes_nothing(host: CtlHost):
    before = host.running_image()
    outcome = host.deploy(images.V1)
    assert outcome.rc == 0 and outcome.state == "unchanged" and not outcome.result["changed"], outcome
    assert host.running_image() == before


def test_a_new_image_is_swapped_in_with_a_verified_paired_backup(host: CtlHost, tmp_path: Path):
    written = {host_post(host, f"v1-{n}"): f"v1-{n}" for n in range(3)}
    outcome = host.deploy(images.V2)
    assert outcome.rc == 0 and outcome.state == "committed", outcome
    assert host.health()["version"] == "v2"
    backup = outcome.result["result"]["backup"]
    assert backup and Path(backup["path"]).is_file() and backup["revision"] == "0002"
    previous = host.status()["previous"]
    assert previous["backup"] == backup["path"] and previous["image_id"] == images.image_id(images.V1)
    assert written.items() <= host.db_items(tmp_path).items()


def test_a_failed_deploy_is_undone_and_says_so_without_the_secret(host: CtlHost, tmp_path: Path):
    written = {host_post(host, f"v2-{n}"): f"v2-{n}" for n in range(3)}
    records = (host.status()["current"], host.status()["previous"])
    outcome = host.deploy(images.BROKEN)
    assert outcome.rc == 3 and outcome.state == "undone", outcome
    for expected in (
        "FAILED: it exited (exit code 1) before answering /health",
        "broken release: refusing to start (SECRET_KEY=[REDACTED])",
        "Undone: the release that ran before, ",
        "answers /health with 200",
        "the database was restored from the copy taken before the swap",
        "The release records are unchanged",
    ):
        assert expected in outcome.message, outcome.message
    assert SECRET not in outcome.message + outcome.stderr
    assert host.health()["version"] == "v2"
    assert (host.status()["current"], host.status()["previous"]) == records
    assert written.items() <= host.db_items(tmp_path).items()
    assert host.lock_free()


def test_an_unhealthy_release_times_out_and_is_undone(host: CtlHost):
    outcome = host.deploy(images.UNHEALTHY)
    assert outcome.state == "undone", outcome
    assert "did not answer /health with 200 within 20s (the last answer was 404)" in outcome.message
    assert host.health()["version"] == "v2"


def test_rollback_goes_back_to_the_previous_release(host: CtlHost):
    outcome = host.ctl("rollback", "--foreground")
    assert outcome.rc == 0 and outcome.state == "committed", outcome
    assert host.health()["version"] == "v1"
    assert "Database left as it was" in outcome.message
    again = host.ctl("rollback", "--foreground")
    assert again.state == "unchanged" and "already rolled back" in again.message


def host_post(host: CtlHost, name: str) -> str:
    from support import hostkit

    return hostkit.post_item(host.url, name, {"by": "ctl-test"})


def test_rollback_is_refused_across_a_schema_change(host: CtlHost):
    assert host.deploy(images.V2).state == "committed"
    assert host.deploy(images.AHEAD).state == "committed"
    refused = host.ctl("rollback", "--foreground", "--host", "the-host")
    assert refused.rc == 2 and refused.state == "refused", refused
    for expected in (
        "refusing to roll back the-host to ",
        "the database is at schema revision 0003 but that release ran at revision 0002",
        "Restore the backup paired with it as well",
        "rollback_restore_database=true",
        "Nothing was changed",
    ):
        assert expected in refused.message, refused.message
    assert host.health()["version"] == "v3-ahead"


def test_rollback_with_the_paired_database_sets_the_newer_data_aside(host: CtlHost, tmp_path: Path):
    since = host_post(host, "written-under-ahead")
    outcome = host.ctl("rollback", "--restore-database", "--foreground")
    assert outcome.rc == 0 and outcome.state == "committed", outcome
    assert host.health()["version"] == "v2"
    assert "Database restored from " in outcome.message and "the replaced one is kept as " in outcome.message
    assert since not in host.db_items(tmp_path)
    pre_rollback = Path(outcome.result["result"]["backup"]["path"])
    assert since in host.backup_items(pre_rollback, tmp_path), "the writes made since are not kept"


def test_a_failed_migration_is_undone_with_the_database(host: CtlHost, tmp_path: Path):
    before = host.db_items(tmp_path)
    outcome = host.deploy(images.AHEAD_BROKEN)
    assert outcome.state == "undone", outcome
    assert "the database was restored from the copy taken before the swap" in outcome.message
    assert host.health()["revision"] == "0002"
    assert host.db_items(tmp_path) == before


def test_a_deploy_onto_a_volume_whose_database_was_removed_is_refused_naming_the_backup(host: CtlHost):
    taken = host.ctl("backup")
    assert taken.rc == 0, taken
    data = host.root / "data"
    moved = host.base / "moved-away"
    moved.mkdir()
    for path in data.glob("app.db*"):
        path.rename(moved / path.name)
    try:
        refused = host.deploy(images.V1)
        assert refused.rc == 2 and refused.state == "refused", refused
        assert f"the database {data / 'app.db'} is missing, but this data volume held one" in refused.message
        assert f"restore the newest backup, {taken.result['path']}" in refused.message
        assert not (data / "app.db").exists(), "an empty database was created"
    finally:
        for path in moved.iterdir():
            path.rename(data / path.name)
    assert host.health()["version"] == "v2"
