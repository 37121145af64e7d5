"""The host's lock: a live holder is waited for, then refused with a message naming it; a lock whose
holder is gone is taken over at once, saying so; a live holder silent past its lease is stopped and
taken over; the scheduled backup waits for a change in progress and then runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from ctlhost import PROGRAM, CtlHost
from support import testimages as images

pytestmark = [pytest.mark.docker]

HOLDER = """
import sys, time
sys.path.insert(0, {program!r})
from pathlib import Path
from webappctl.lock import Lock
lock = Lock(Path({releases!r}), "deploy", "holder@elsewhere", {lease})
lock.acquire(0)
print("held", flush=True)
{after}
time.sleep({seconds})
"""


@contextmanager
def held(host: CtlHost, seconds: float, lease: int = 900, after: str = "") -> Iterator[subprocess.Popen[str]]:
    code = HOLDER.format(
        program=str(PROGRAM), releases=str(host.root / "releases"), lease=lease, after=after, seconds=seconds
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module", autouse=True)
def deployed(host: CtlHost) -> None:
    assert host.deploy(images.V1).state == "committed"


def test_a_live_holder_is_waited_for_then_named_in_the_refusal(host: CtlHost):
    with held(host, 60):
        started = time.monotonic()
        outcome = host.ctl("deploy", "--image", host.tag(images.V2), "--settings", str(host.settings()),
                           "--foreground", "--wait", "2")  # fmt: skip
        waited = time.monotonic() - started
    assert outcome.rc == 2 and outcome.state == "refused", outcome
    assert "another run holds the lock" in outcome.message and "deploy by holder@elsewhere" in outcome.message
    assert "Nothing was changed" in outcome.message
    assert waited >= 2, "it did not wait for the holder"
    assert host.running_image() == images.image_id(images.V1)


def test_a_lock_whose_holder_is_gone_is_taken_over_saying_so(host: CtlHost):
    with held(host, 60) as holder:
        pass  # killed on leaving: the flock is freed by the kernel, lock.json stays behind
    assert (host.root / "releases" / "lock.json").exists()
    outcome = host.deploy(images.V2)
    assert outcome.state == "committed", outcome
    assert any(
        f"(pid {holder.pid}" in note and "its process is gone" in note for note in outcome.result["notes"]
    )
    assert host.lock_free()


def test_a_live_holder_silent_past_its_lease_is_stopped_and_taken_over(host: CtlHost):
    # A holder whose last progress is older than its lease (here: an hour ago, lease 60 s).
    stale = (
        "import json; p = Path({!r}); r = json.loads(p.read_text()); "
        "r['progress_epoch'] -= 3600; p.write_text(json.dumps(r))"
    )
    after = stale.format(str(host.root / "releases" / "lock.json"))
    with held(host, 300, lease=60, after=after) as holder:
        host.write_config(lock_lease=60)
        outcome = host.deploy(images.V1)
        holder.wait(timeout=10)
    host.write_config()
    assert outcome.state == "committed", outcome
    assert holder.returncode == -9, "the hung holder was not stopped"
    assert any("made no progress for 60s and was stopped" in note for note in outcome.result["notes"]), (
        outcome
    )


def test_the_scheduled_backup_waits_for_a_change_in_progress(host: CtlHost):
    with held(host, 3):
        started = time.monotonic()
        taken = host.ctl("backup", "--defer", "30")
        waited = time.monotonic() - started
    assert taken.rc == 0, taken
    assert waited >= 2, "the backup did not wait for the lock"
    assert json.loads(json.dumps(taken.result))["integrity"] == "ok"
