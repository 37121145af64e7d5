from __future__ import annotations

import json

from conftest import journal


def test_docker_is_enabled_at_boot(host):
    assert host.service("docker").is_enabled, journal(host, "docker")


def test_docker_is_running(host):
    assert host.service("docker").is_running, journal(host, "docker")


def test_daemon_json_rotates_container_logs(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-driver"] == "json-file"
    assert set(config["log-opts"]) == {"max-size", "max-file"}


def test_python_docker_sdk_is_installed(host):
    assert host.run("python3 -c 'import docker'").rc == 0


def test_logrotate_configs_are_valid(host):
    assert host.file("/etc/logrotate.d/webapp").contains("/app/logs/")
    result = host.run("logrotate -d /etc/logrotate.conf")
    assert result.rc == 0, result.stderr
