"""Interrupted deploys on a real host: the controller SIGKILLed at moments spread over a deploy, the
host-side program SIGKILLed mid-swap, the host rebooted mid-swap. Each time, with writers running
through the proxy: /health answers 200 within 30 s (of the program resuming, or of the host being
back), the next playbook run converges with no manual step, the lock is free, every acknowledged
write is in the database. And a host deployed before the proxy existed is taken over by it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_helpers import SECRET, Host, Site, kill
from support import hostkit
from support import testimages as images
from support.load import Load

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = Host("webapp-deploy-faults", ssh_port=2229, app_port=18089)
FAULT = "/run/webappctl/fault"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    HOST.up()
    try:
        the_site = Site.write(tmp_path_factory.mktemp("faults"), HOST, app_image=images.V1)
        the_site.play("configure.yml")
        yield the_site
    finally:
        HOST.down()


def other() -> str:
    return images.V2 if HOST.running_image() == images.image_id(images.V1) else images.V1


def assert_converged(site: Site, image: str, load: Load, tmp_path: Path) -> None:
    proc = site.play("configure.yml", "deploy.yml", app_image=image)
    assert re.search(r"changed=0\s", proc.output), f"the next run did not converge:\n{proc.output[-3000:]}"
    assert HOST.running_image() == images.image_id(image)
    assert HOST.lock_free()
    assert not load.failures, load.report()
    missing = set(load.acknowledged) - set(HOST.db_items(tmp_path))
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"


def test_a_release_from_before_the_proxy_is_taken_over_by_it(site: Site, tmp_path: Path):
    # As the role ran it before the proxy: published on the host's port 8000, no private network.
    saved = subprocess.run(["docker", "save", images.V1], check=True, capture_output=True).stdout
    subprocess.run(
        ["docker", "exec", "-i", HOST.name, "docker", "load"], input=saved, check=True, capture_output=True
    )
    HOST.run(
        "sh", "-c", "mkdir -p /app/data /app/releases && chown 10001:10001 /app/data && chmod 750 /app/data"
    )
    # Its settings as that role wrote them, in /app/.env.
    HOST.run("sh", "-c", f"umask 077 && printf 'SECRET_KEY=%s\\n' {SECRET} > /app/.env")
    HOST.run(
        "docker", "run", "-d", "--name", "webapp", "--restart", "unless-stopped", "-p", "8000:8000",
        "--env-file", "/app/.env", "-v", "/app/data:/app/data", "--user", "10001:10001", "--read-only",
        "--tmpfs", "/tmp", images.V1,
    )  # fmt: skip
    HOST.wait_healthy(timeout=60)
    hostkit.authorize(HOST.url, HOST.name)  # writes need a token
    written = hostkit.post_item(HOST.url, "from-the-legacy-release", {})
    site.play("deploy.yml", app_image=images.V2)
    HOST.wait_healthy()
    assert HOST.running_image() == images.image_id(images.V2)
    assert not HOST.inspect()["HostConfig"]["PortBindings"]
    assert written in HOST.db_items(tmp_path)


@pytest.mark.parametrize(
    ("moment", "ready"),
    [
        ("while the image is shipped", "TASK [app : Copy the archive to the host]"),
        # The rest are read in the new transaction's journal: once true they stay true, so the
        # moment cannot be missed between two looks.
        ("once the transaction has started", '"step": "prepare"'),
        ("while requests are held", '"step": "hold"'),
        ("while the new release starts", '"step": "start_incoming"'),
    ],
)
def test_the_controller_killed_at_any_moment(site: Site, moment: str, ready: str, tmp_path: Path):
    target = other()
    known = journals()
    with Load(HOST.url) as load:
        controller = site.start("deploy.yml", app_image=target)
        reached = wait_for_moment(controller, ready, known)
        kill(controller)
        assert reached, f"the run ended before the moment '{moment}'"
        # The host goes on by itself (or never started the swap): the app answers within 30 s.
        HOST.wait_healthy(timeout=30)
        assert_converged(site, target, load, tmp_path)


def journals() -> set[str]:
    return set(HOST.run("sh", "-c", "ls /app/releases/txn/ 2>/dev/null", check=False).stdout.split())


def wait_for_moment(
    controller: subprocess.Popen[str], ready: str, known: set[str], timeout: float = 600
) -> bool:
    """Until the controller prints `ready` (a task name), or a transaction journal that was not there
    before holds it."""
    deadline = time.monotonic() + timeout
    if ready.startswith("TASK"):
        assert controller.stdout is not None
        for line in controller.stdout:
            if ready in line:
                return True
            if time.monotonic() > deadline:
                break
        return False
    while time.monotonic() < deadline:
        for name in sorted(journals() - known):
            if ready in HOST.run("cat", f"/app/releases/txn/{name}", check=False).stdout:
                return True
        if controller.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("boundary", ["after:stop_outgoing", "before:switch"])
def test_the_program_killed_mid_swap_is_restarted_by_systemd(site: Site, boundary: str, tmp_path: Path):
    target = other()
    HOST.run("sh", "-c", f"mkdir -p /run/webappctl && echo {boundary} > {FAULT}")
    with Load(HOST.url) as load:
        proc = site.play("deploy.yml", app_image=target)
    assert HOST.run("test", "-e", FAULT, check=False).returncode != 0, "the fault did not fire"
    restarts = HOST.run(
        "sh", "-c", "journalctl --no-pager -o cat -u 'webappctl-*' | grep -c 'Scheduled restart'"
    )
    assert int(restarts.stdout.strip() or 0) >= 1, "systemd did not restart the killed program"
    assert f"Deployed {target}" in proc.output
    assert_converged(site, target, load, tmp_path)


@pytest.mark.parametrize("boundary", ["after:hold", "after:start_incoming"])
def test_a_reboot_mid_swap_is_finished_at_boot(site: Site, boundary: str, tmp_path: Path):
    target = other()
    HOST.run("sh", "-c", f"mkdir -p /run/webappctl && echo '{boundary} pause' > {FAULT}")
    with Load(HOST.url, limit=600) as load:
        controller = site.start("deploy.yml", app_image=target)
        HOST.wait_for(f"{FAULT}.paused")
        kill(controller)
        load.stop()  # requests in flight when the host goes down are not the app's to answer
        HOST.restart()
        waited = HOST.wait_healthy(timeout=30)
    assert waited < 30
    assert HOST.running_image() == images.image_id(target)
    assert HOST.lock_free()
    missing = set(load.acknowledged) - set(HOST.db_items(tmp_path))
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    proc = site.play("configure.yml", "deploy.yml", app_image=target)
    assert re.search(r"changed=0\s", proc.output), f"the next run did not converge:\n{proc.output[-3000:]}"
