"""The CloudWatch Logs group the docker role creates from the controller when container logs go to
awslogs (tests/integration/aws/playbooks/log-group.yml, the role's own tasks), against moto's server on
127.0.0.1: created with its retention, unchanged on a second run, retention updated when the
inventory changes it, and a bad setting refused before any AWS call."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_helpers import HERE, REGION, aws_client, run_playbook

PLAYBOOK = HERE / "playbooks" / "log-group.yml"
GROUP = "/webapp/log-group-test/containers"


def logs_client(endpoint: str):  # boto3 clients have no importable type
    return aws_client("logs", endpoint)


def groups(endpoint: str) -> dict[str, dict]:
    found = logs_client(endpoint).describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    return {group["logGroupName"]: group for group in found}


@pytest.fixture
def settings(moto_endpoint: str) -> dict[str, object]:
    return {
        "docker_log_driver": "awslogs",
        "docker_awslogs_group": GROUP,
        "docker_awslogs_region": REGION,
        "docker_awslogs_endpoint_url": moto_endpoint,
    }


def play(inventory: Path, tmp_path: Path, settings: dict[str, object], **overrides: object):
    return run_playbook(PLAYBOOK, inventory, tmp_path, {**settings, **overrides})


def test_group_is_created_with_its_retention_then_left_alone(inventory, tmp_path, moto_endpoint, settings):
    first = play(inventory, tmp_path, settings, docker_awslogs_retention_days=14)
    assert first.rc == 0, first.output[-3000:]
    assert first.recap["changed"] == 1
    assert groups(moto_endpoint)[GROUP]["retentionInDays"] == 14

    again = play(inventory, tmp_path, settings, docker_awslogs_retention_days=14)
    assert again.rc == 0, again.output[-3000:]
    assert again.recap["changed"] == 0

    longer = play(inventory, tmp_path, settings, docker_awslogs_retention_days=90)
    assert longer.rc == 0, longer.output[-3000:]
    assert longer.recap["changed"] == 1
    assert groups(moto_endpoint)[GROUP]["retentionInDays"] == 90
    assert list(groups(moto_endpoint)) == [GROUP]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        pytest.param({"docker_awslogs_retention_days": 10}, "docker_awslogs_retention_days", id="retention"),
        pytest.param({"docker_awslogs_region": ""}, "docker_awslogs_region", id="region"),
        pytest.param({"docker_awslogs_group": "no spaces allowed"}, "docker_awslogs_group", id="group"),
    ],
)
def test_bad_settings_are_refused_first(inventory, tmp_path, moto_endpoint, settings, override, named):
    before = groups(moto_endpoint)
    run = play(inventory, tmp_path, {**settings, "docker_awslogs_group": GROUP + "-refused"}, **override)
    assert run.rc != 0
    assert "Check the CloudWatch Logs settings" in run.output
    assert named in run.output
    assert groups(moto_endpoint) == before
