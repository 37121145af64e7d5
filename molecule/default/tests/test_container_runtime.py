"""CIS Docker Benchmark section 5 for every container on the host (containers.py lists them): what the
engine's defaults give every container, and what the app role sets per container (limits, the one
publishing container)."""

from __future__ import annotations

import pytest
from conftest import CONTAINER
from containers import DOCKER_SOCKETS, SECCOMP_FILTER, host_has_apparmor, list_containers, report

PROXY = "webapp-proxy"


@pytest.fixture
def containers(host):
    found = list_containers(host)
    assert found, "no container on the host: every check below would pass on nothing"
    return found


@pytest.fixture
def running(containers):
    return [c for c in containers if c.running]


def test_every_container_is_listed(host, containers):
    assert CONTAINER in {c.name for c in containers}
    assert len(containers) == len(host.check_output("docker ps --all --quiet").split())


def test_containers_keep_the_default_seccomp_profile(running):
    # CIS 5.22: the kernel filters their system calls, and nobody asked for unconfined.
    bad = [c for c in running if c.seccomp_unconfined or c.seccomp_mode != SECCOMP_FILTER]
    assert not bad, report(bad)


def test_containers_cannot_gain_privileges(running):
    # CIS 5.5, 5.26 (and 2.14: the engine's default, whatever a container was started with).
    bad = [c for c in running if c.privileged or c.no_new_privs is not True]
    assert not bad, report(bad)


def test_containers_run_under_apparmor_where_the_host_has_it(host, running):
    # CIS 5.2: the engine applies docker-default to every container unless told otherwise.
    if not host_has_apparmor(host):
        pytest.skip("the host has no AppArmor (Amazon Linux 2023; these test machines)")
    bad = [c for c in running if c.apparmor != "docker-default"]
    assert not bad, report(bad)


def test_containers_share_no_host_namespace_and_not_the_docker_socket(containers):
    # CIS 5.10, 5.16, 5.17, 5.21, 5.31, 5.32
    bad = [c for c in containers if c.shared_host_namespaces or DOCKER_SOCKETS & set(c.mount_sources)]
    assert not bad, report(bad)


def test_every_container_has_memory_cpu_and_pids_limits(containers):
    # CIS 5.11 memory, 5.12 CPU, 5.29 PIDs: the app, the proxy and one-off runs are each sized
    # (app_container_*, app_proxy_*); a container started by hand would show here.
    missing = [f"{c.name}: {', '.join(c.limits_missing())}" for c in containers if c.limits_missing()]
    assert not missing, "\n".join(missing) + "\n" + report(containers)


def test_only_the_proxy_publishes_ports(containers):
    # CIS 5.14: the app publishes nothing (it is reached on the private network); the proxy publishes
    # exactly the app's port (app_publish; 80 and 443 with a domain), the one way in.
    published = {c.name: sorted(b.host_port for b in c.bindings) for c in containers if c.bindings}
    assert published == {PROXY: ["8000"]}, report(containers)
