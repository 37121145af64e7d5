"""CIS Docker Benchmark section 5 for every container on the host (containers.py lists them). The
items the engine's defaults give every container hold now; the limits and the bound addresses are
set per container and come with the reverse-proxy work, which rewrites how containers are run: that
test is marked xfail(strict) so it fails loudly the day it passes, to be unmarked then."""

from __future__ import annotations

import pytest
from conftest import CONTAINER
from containers import DOCKER_SOCKETS, SECCOMP_FILTER, host_has_apparmor, list_containers, report


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


@pytest.mark.xfail(strict=True, reason="containers get limits with the proxy work")
def test_every_container_has_limits_and_binds_ports_to_chosen_addresses(containers):
    # CIS 5.11 memory, 5.12 CPU, 5.29 PIDs, 5.14 published ports bound to a chosen address
    missing = [f"{c.name}: {', '.join(c.limits_missing())}" for c in containers if c.limits_missing()]
    assert not missing, "\n".join(missing) + "\n" + report(containers)
