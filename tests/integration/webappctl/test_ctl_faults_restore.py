"""A restore killed at every step boundary, under load through the proxy, is finished by the next
run: the backup's data is live, every write acknowledged before the swap is in the verified backup
of the replaced database, every one acknowledged after is live; no request failed; lock free."""

from __future__ import annotations

from pathlib import Path

import pytest
from ctlhost import CtlHost
from support import testimages as images
from support.load import Load
from webappctl_steps import FORWARD

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def deployed(host: CtlHost) -> None:
    assert host.deploy(images.V1).state == "committed"


@pytest.mark.parametrize("boundary", [f"{when}:{step}" for step in FORWARD for when in ("before", "after")])
def test_a_restore_killed_at_any_step_is_finished_by_the_next_run(
    host: CtlHost, boundary: str, tmp_path: Path
):
    from support import hostkit

    kept = hostkit.post_item(host.url, f"before-backup-{boundary}", {})
    taken = host.ctl("backup")
    assert taken.rc == 0, taken
    backup = Path(taken.result["path"])
    with Load(host.url, read_id=kept) as load:
        killed = host.ctl("restore", "--file", str(backup), "--foreground", fault=boundary)
        assert killed.rc == -9, f"the fault at {boundary} did not fire: {killed}"
        recovered = host.ctl("recover")
        host.wait_healthy(timeout=30)
    assert recovered.result["state"] == "committed", recovered
    assert not load.failures, load.report()
    live = host.db_items(tmp_path)
    assert set(host.backup_items(backup, tmp_path)) <= set(live), "the backup's data is not live"
    safety = recovered.result["result"]["backup"]["path"]
    kept = set(live) | set(host.backup_items(Path(safety), tmp_path))
    missing = set(load.acknowledged) - kept
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    assert host.lock_free()
