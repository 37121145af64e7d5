"""The pure parts of roles/docker/files/docker_restart_held.py: which ports it holds, the iptables
rules it adds and finds again. Its effect on a real engine restart is tested on hosts (molecule's
test_docker.py, tests/integration/engine)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest

PROGRAM = Path(__file__).resolve().parents[3] / "roles" / "docker" / "files" / "docker_restart_held.py"
spec = importlib.util.spec_from_file_location("docker_restart_held", PROGRAM)
held = importlib.util.module_from_spec(spec)
spec.loader.exec_module(held)

UNTIL = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def container(ports: dict, running: bool = True) -> dict:
    return {"State": {"Running": running}, "NetworkSettings": {"Ports": ports}}


def test_published_tcp_ports_of_running_containers():
    found = held.published_ports(
        [
            container(
                {
                    "8000/tcp": [
                        {"HostIp": "0.0.0.0", "HostPort": "8000"},  # noqa: S104 - data
                        {"HostIp": "::", "HostPort": "8000"},
                    ]
                }
            ),
            container(
                {
                    "443/tcp": [{"HostIp": "10.0.0.5", "HostPort": "443"}],
                    "53/udp": [{"HostIp": "", "HostPort": "53"}],
                }
            ),
            container({"9000/tcp": None, "9001/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
            container({"5000/tcp": [{"HostIp": "", "HostPort": "5000"}]}, running=False),
        ]
    )
    assert found == [held.Port("", 8000), held.Port("10.0.0.5", 443)]
    assert [str(port) for port in found] == ["0.0.0.0:8000", "10.0.0.5:443"]


def test_hold_rules_drop_from_outside_and_from_the_host_until_the_deadline():
    rules = held.hold_rules([held.Port("", 8000), held.Port("127.0.0.1", 18000)], UNTIL)
    tail = [
        "-m",
        "comment",
        "--comment",
        "docker-restart-held",
        "-m",
        "time",
        "--datestop",
        "2030-01-02T03:04:05",
    ]
    assert rules == [
        [
            "OUTPUT",
            "-p",
            "tcp",
            "--syn",
            "--dport",
            "8000",
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            *tail,
            "-j",
            "DROP",
        ],
        ["INPUT", "-p", "tcp", "--syn", "--dport", "8000", *tail, "-j", "DROP"],
        ["OUTPUT", "-p", "tcp", "--syn", "--dport", "18000", "-d", "127.0.0.1", *tail, "-j", "DROP"],
        ["INPUT", "-p", "tcp", "--syn", "--dport", "18000", "-d", "127.0.0.1", *tail, "-j", "DROP"],
    ]


def test_stale_rules_are_found_in_iptables_listing():
    stale = "INPUT -p tcp -m tcp --dport 8000 -m comment --comment docker-restart-held -j DROP"
    listing = f"-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A {stale}\n"
    assert held.stale_rules(listing) == [stale.split(" ")]


@pytest.mark.parametrize(
    ("content", "disabled"),
    [
        ('{"userland-proxy": false}', True),
        ('{"userland-proxy": true}', False),
        ("{}", False),
        ("not json", False),
    ],
)
def test_the_hold_needs_the_userland_proxy_disabled(tmp_path, content, disabled):
    path = tmp_path / "daemon.json"
    path.write_text(content)
    assert held.userland_proxy_disabled(str(path)) is disabled
    assert held.userland_proxy_disabled(str(tmp_path / "missing.json")) is False
