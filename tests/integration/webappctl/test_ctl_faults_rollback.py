"""A rollback killed at every step boundary, under load through the proxy, is finished by the next
run: the previous release serves, no request failed, every acknowledged write is in the database,
the lock is free. A rollback that also restores the paired database, killed at every boundary: the
database is the paired backup's and every write acknowledged since is kept in the set-aside file."""

from __future__ import annotations

from pathlib import Path

import pytest
from ctlhost import CtlHost
from support import hostkit
from support import testimages as images
from support.load import Load
from webappctl_steps import FORWARD

pytestmark = [pytest.mark.docker, pytest.mark.slow]
BOUNDARIES = [f"{when}:{step}" for step in FORWARD for when in ("before", "after")]


@pytest.fixture(scope="module", autouse=True)
def deployed(host: CtlHost) -> None:
    assert host.deploy(images.V1).state == "committed"


def forward(host: CtlHost) -> str:
    """Deploy the other version, so that there is a previous release to roll back to; returns it."""
    back_to = host.running_image()
    target = images.V2 if back_to == images.image_id(images.V1) else images.V1
    assert host.deploy(target).state == "committed"
    return back_to


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_rollback_killed_at_any_step_is_finished_by_the_next_run(
    host: CtlHost, boundary: str, tmp_path: Path
):
    back_to = forward(host)
    with Load(host.url) as load:
        killed = host.ctl("rollback", "--foreground", fault=boundary)
        assert killed.rc == -9, f"the fault at {boundary} did not fire: {killed}"
        recovered = host.ctl("recover")
        host.wait_healthy(timeout=30)
    assert recovered.result["state"] == "committed", recovered
    assert host.running_image() == back_to
    assert not load.failures, load.report()
    missing = set(load.acknowledged) - set(host.db_items(tmp_path))
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    assert host.lock_free()


@pytest.mark.parametrize(
    "boundary", ["before:place_db", "after:place_db", "after:start_incoming", "after:switch"]
)
def test_a_rollback_with_its_database_killed_mid_swap_keeps_every_write(
    host: CtlHost, boundary: str, tmp_path: Path
):
    hostkit.post_item(host.url, f"kept-by-the-paired-backup-{boundary}", {})
    back_to = forward(host)
    paired = Path(host.status()["previous"]["backup"])
    with Load(host.url, read_id=next(iter(host.backup_items(paired, tmp_path)))) as load:
        killed = host.ctl("rollback", "--restore-database", "--foreground", fault=boundary)
        assert killed.rc == -9, f"the fault at {boundary} did not fire: {killed}"
        recovered = host.ctl("recover")
        host.wait_healthy(timeout=30)
    assert recovered.result["state"] == "committed", recovered
    assert host.running_image() == back_to
    assert not load.failures, load.report()
    live = host.db_items(tmp_path)
    aside = recovered.result["result"]["backup"]["path"]
    kept = set(live) | set(host.backup_items(Path(aside), tmp_path))
    missing = set(load.acknowledged) - kept
    assert not missing, (
        f"acknowledged writes neither live nor in the backup of the replaced database: {missing}"
    )
    assert set(host.backup_items(paired, tmp_path)) <= set(live), "the live database is not the paired backup"
    assert host.lock_free()
