from __future__ import annotations

import json

from conftest import inspect, journal


def test_the_proxy_is_the_only_published_port(host):
    assert not inspect(host)["HostConfig"]["PortBindings"], "the app container publishes a port"
    proxy = inspect(host, "webapp-proxy")
    assert proxy["State"]["Running"], journal(host, "docker")
    assert list(proxy["HostConfig"]["PortBindings"]) == ["8080/tcp"]


def test_the_proxy_and_the_app_share_a_private_network(host):
    for name in ("webapp", "webapp-proxy"):
        assert list(inspect(host, name)["NetworkSettings"]["Networks"]) == ["webapp"], name


def test_webappctl_is_installed_with_its_boot_recovery(host):
    status = host.run("/usr/local/sbin/webappctl status")
    assert status.rc == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["lock"] == "free" and state["open_transaction"] is None
    assert host.service("webappctl-recover.service").is_enabled
