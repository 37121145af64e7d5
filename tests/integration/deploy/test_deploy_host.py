"""Deploy and rollback through the playbooks on a real host: a Debian 12 systemd container reached
over ssh, webappctl running each swap in its own systemd unit, the proxy in front. The tests run in
file order on one host; each starts from the state the one before left. A bounded load runs through
the proxy during the deploy and the rollback: no request may fail, every acknowledged write stays."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_helpers import SECRET, Host, Site
from support import hostkit
from support import testimages as images
from support.load import Load

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOST = Host("webapp-deploy-test", ssh_port=2228, app_port=18088)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    HOST.up()
    try:
        the_site = Site.write(tmp_path_factory.mktemp("deploy"), HOST, app_image=images.V1)
        the_site.play("configure.yml", "deploy.yml")
        hostkit.authorize(HOST.url, HOST.name)  # writes need a token
        yield the_site
    finally:
        HOST.down()


def test_the_first_deploy_serves_through_the_proxy_only(site: Site):
    HOST.wait_healthy()
    assert HOST.running_image() == images.image_id(images.V1)
    assert HOST.release("current")["image"] == images.V1
    app, proxy = HOST.inspect(), HOST.inspect("webapp-proxy")
    assert not app["HostConfig"]["PortBindings"], "the app container publishes a port on the host"
    bindings = proxy["HostConfig"]["PortBindings"]
    assert list(bindings) == ["8080/tcp"] and [b["HostPort"] for b in bindings["8080/tcp"]] == ["8000"], (
        bindings
    )
    assert app["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert HOST.lock_free()
    assert HOST.run("systemctl", "is-enabled", "webappctl-recover.service").stdout.strip() == "enabled"


def test_both_containers_run_with_limits(site: Site):
    for name, memory, cpus, pids in (("webapp", 1 << 30, 1.5, 256), ("webapp-proxy", 256 << 20, 0.5, 128)):
        host_config = HOST.inspect(name)["HostConfig"]
        assert host_config["Memory"] == memory and host_config["MemorySwap"] == memory, name
        assert host_config["NanoCpus"] == int(cpus * 1e9), name
        assert host_config["PidsLimit"] == pids, name
        assert host_config["ReadonlyRootfs"] and host_config["CapDrop"] == ["ALL"], name
        assert "no-new-privileges" in host_config["SecurityOpt"], name
        assert "size=" in host_config["Tmpfs"]["/tmp"], f"{name}: /tmp has no size cap"


def test_the_same_deploy_again_changes_nothing(site: Site):
    backups = HOST.run("find", "/app/backups").stdout
    proc = site.play("configure.yml", "deploy.yml")
    assert re.search(r"changed=0\s", proc.output) and "failed=0" in proc.output, proc.output[-3000:]
    assert HOST.run("find", "/app/backups").stdout == backups, "a no-op deploy took a backup"


def test_a_new_image_under_load_drops_no_request(site: Site, tmp_path: Path):
    with Load(HOST.url) as load:
        site.play("deploy.yml", app_image=images.V2)
    assert HOST.running_image() == images.image_id(images.V2)
    assert not load.failures, load.report()
    assert load.acknowledged, load.report()
    missing = set(load.acknowledged) - set(HOST.db_items(tmp_path))
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    previous = HOST.release("previous")
    assert previous["image_id"] == images.image_id(images.V1)
    assert HOST.run("test", "-f", previous["backup"], check=False).returncode == 0


def test_a_failed_deploy_is_undone_and_never_prints_the_secret(site: Site):
    settings = HOST.run("cat", "/app/.env").stdout
    records = (HOST.release("current"), HOST.release("previous"))
    proc = site.play(
        "deploy.yml", flags=("-v", "--diff"), check=False, app_image=images.BROKEN,
        app_env={"SECRET_KEY": SECRET, "LOG_LEVEL": "DEBUG"},
    )  # fmt: skip
    assert proc.returncode != 0, proc.output[-3000:]
    for expected in (
        f"Deploy of {images.BROKEN} (",
        "FAILED: it exited (exit code 1) before answering /health",
        "broken release: refusing to start (SECRET_KEY=[REDACTED])",
        f"Undone: the release that ran before, {images.V2} (",
        "The release records are unchanged",
    ):
        assert expected in proc.output, f"{expected!r} not in:\n{proc.output[-4000:]}"
    assert SECRET not in proc.output, "the secret reached the Ansible output"
    HOST.wait_healthy()
    assert HOST.running_image() == images.image_id(images.V2)
    assert HOST.run("cat", "/app/.env").stdout == settings, "the failed release's settings were applied"
    assert (HOST.release("current"), HOST.release("previous")) == records
    assert HOST.lock_free()


def test_a_rollback_under_load_drops_no_request(site: Site, tmp_path: Path):
    with Load(HOST.url) as load:
        proc = site.play("rollback.yml")
    assert f"Rolled back to {images.V1}" in proc.output
    assert HOST.running_image() == images.image_id(images.V1)
    assert not load.failures, load.report()
    missing = set(load.acknowledged) - set(HOST.db_items(tmp_path))
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"


def test_a_second_rollback_changes_nothing_and_says_how_to_go_forward(site: Site):
    proc = site.play("rollback.yml")
    assert "is already rolled back from" in proc.output and "deploy.yml -e app_image=" in proc.output
    assert re.search(r"changed=0\s", proc.output), proc.output[-3000:]
    assert HOST.running_image() == images.image_id(images.V1)


def test_a_deploy_while_another_holds_the_lock_is_refused_naming_it(site: Site):
    holder = HOST.run("sh", "-c", HOLD_LOCK, check=False)
    assert holder.returncode == 0, holder.stderr
    try:
        proc = site.play("deploy.yml", check=False, app_image=images.V2, app_lock_wait=2)
    finally:
        HOST.run("pkill", "-f", "lock-holder-for-test", check=False)
    assert proc.returncode != 0
    assert "another run holds the lock /app/releases/.lock: deploy by operator@elsewhere" in proc.output
    assert "Nothing was changed" in proc.output
    assert HOST.running_image() == images.image_id(images.V1)


# A process on the host holding the lock as a deploy would (the program's own Lock class).
HOLD_LOCK = (
    "nohup python3 -c \"import sys, time; sys.argv[0] = 'lock-holder-for-test'; "
    "sys.path.insert(0, '/usr/local/lib/webappctl/webappctl.pyz'); from pathlib import Path; "
    "from webappctl.lock import Lock; l = Lock(Path('/app/releases'), 'deploy', 'operator@elsewhere', 900); "
    "l.acquire(0); open('/run/lock-held', 'w').close(); time.sleep(120)\" lock-holder-for-test "
    ">/dev/null 2>&1 & for i in $(seq 50); do [ -e /run/lock-held ] && exit 0; sleep 0.1; done; exit 1"
)
