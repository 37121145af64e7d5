"""A deploy killed (SIGKILL, the program's test-only fault file) at every step boundary, before and
after each step, with writers and readers running through the proxy: the next run (`webappctl
recover`, what the boot unit and every playbook run first) finishes it. Each time: no request failed,
every acknowledged write is in the database, the new release serves, the lock is free. Then the
same for an undo: a broken release killed at every boundary of its undo."""

from __future__ import annotations

from pathlib import Path

import pytest
from ctlhost import CtlHost
from support import testimages as images
from support.load import Load
from webappctl_steps import FORWARD, UNDO

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def deployed(host: CtlHost) -> None:
    assert host.deploy(images.V1).state == "committed"


def other(host: CtlHost) -> str:
    return images.V2 if host.running_image() == images.image_id(images.V1) else images.V1


@pytest.mark.parametrize("boundary", [f"{when}:{step}" for step in FORWARD for when in ("before", "after")])
def test_a_deploy_killed_at_any_step_is_finished_by_the_next_run(
    host: CtlHost, boundary: str, tmp_path: Path
):
    target = other(host)
    with Load(host.url) as load:
        killed = host.deploy(target, fault=boundary)
        assert killed.rc == -9, f"the fault at {boundary} did not fire: {killed}"
        recovered = host.ctl("recover")
        assert recovered.rc == 0, recovered
        host.wait_healthy(timeout=30)
    assert recovered.result["state"] == "committed", recovered
    assert any("its process is gone" in note for note in recovered.result["notes"]), recovered
    assert host.running_image() == images.image_id(target)
    assert not load.failures, load.report()
    assert load.acknowledged, "the writers got nothing through"
    missing = set(load.acknowledged) - set(host.db_items(tmp_path))
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    assert host.lock_free()


@pytest.mark.parametrize("boundary", [f"{when}:{step}" for step in UNDO for when in ("before", "after")])
def test_an_undo_killed_at_any_step_is_finished_by_the_next_run(host: CtlHost, boundary: str, tmp_path: Path):
    running = host.running_image()
    with Load(host.url) as load:
        killed = host.deploy(images.BROKEN, fault=boundary)
        assert killed.rc == -9, f"the fault at {boundary} did not fire: {killed}"
        recovered = host.ctl("recover")
        host.wait_healthy(timeout=30)
    assert recovered.result["state"] == "undone", recovered
    assert "Undone: the release that ran before" in recovered.result["message"]
    assert host.running_image() == running
    assert not load.failures, load.report()
    missing = set(load.acknowledged) - set(host.db_items(tmp_path))
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    assert host.lock_free()
