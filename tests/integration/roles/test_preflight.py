"""A bad inventory stops the deploy in its validation play (the app role's preflight rules, run on the
controller with the host's variables), with a message that names the rule and says what to change,
before anything changes on the host; backup, restore and rollback on a host never deployed stop the
same way. Runs the playbooks against a real systemd host reached over ssh (scripts/host-container.sh);
the host has no Docker, which preflight must not need."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support import hostkit
from support.playbook import ansible_playbook

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[3]
HOST = "webapp-roles-test"
SSH_PORT = 2223
SECRET = "roles-test-secret-d41f7b-0123456789abcdef"  # 32 bytes or more: it signs API tokens
EXAMPLE_SECRET = "example-secret-key-not-for-production-5f2c9a"  # inventory/production's public vault
GOOD_ENV = {"SECRET_KEY": SECRET, "LOG_LEVEL": "INFO"}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    hostkit.host_up(HOST, SSH_PORT)
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    path.write_text(yaml.safe_dump({"webapp": {"hosts": {HOST: hostkit.host_vars(SSH_PORT)}}}))
    yield path
    hostkit.host_down(HOST)


def deploy(
    inventory: Path, tmp_path: Path, variables: dict, *args: str, playbook: str = "deploy.yml"
) -> subprocess.CompletedProcess[str]:
    extra = tmp_path / "vars.yml"
    extra.write_text(yaml.safe_dump(variables))
    return ansible_playbook(
        "-i", inventory, "-e", f"@{extra}", *args, PROJECT / "playbooks" / playbook, timeout=300
    )


def host_has_app_tree() -> bool:
    return subprocess.run(["docker", "exec", HOST, "test", "-e", "/app"], check=False).returncode == 0


def failed_task(output: str) -> str:
    tasks = re.findall(r"^TASK \[(.+?)\]", output, flags=re.MULTILINE)
    return tasks[-1] if tasks else ""


REPORT = "validate : Report every problem found on this host"


def test_good_settings_pass_preflight(inventory, tmp_path):
    # The control: the same host and inventory shape pass when the values are right.
    result = deploy(inventory, tmp_path, {"app_env": GOOD_ENV}, "--tags", "preflight")
    assert result.returncode == 0, result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variables", "task", "message"),
    [
        pytest.param(
            {"app_env": {"LOG_LEVEL": "INFO"}},
            "Check that every required setting has a value",
            "app_env.SECRET_KEY is required and has no value",
            id="missing-secret",
        ),
        pytest.param(
            {"app_env": {"SECRET_KEY": "", "LOG_LEVEL": "INFO"}},
            "Check that every required setting has a value",
            "app_env.SECRET_KEY is required and has no value",
            id="empty-secret",
        ),
        pytest.param(
            {"app_env": {"SECRET_KEY": "short-secret-4c1d9e", "LOG_LEVEL": "INFO"}},
            "Check that SECRET_KEY is strong and not a published example",
            "is 19 bytes long; it signs the API tokens and must be at least 32 bytes",
            id="short-secret",
        ),
        pytest.param(
            # 10 characters, 30 bytes: the rule counts bytes.
            {"app_env": {"SECRET_KEY": "\u20ac" * 10, "LOG_LEVEL": "INFO"}},
            "Check that SECRET_KEY is strong and not a published example",
            "is 30 bytes long",
            id="short-in-bytes",
        ),
        pytest.param(
            {"app_env": {"SECRET_KEY": EXAMPLE_SECRET, "LOG_LEVEL": "INFO"}},
            "Check that SECRET_KEY is strong and not a published example",
            "example value published in this repository",
            id="example-secret",
        ),
        pytest.param(
            {"app_env": GOOD_ENV, "app_publish": "70000:8000"},
            "Check the published port",
            "app_publish must be",
            id="bad-port",
        ),
        pytest.param(
            {"app_env": GOOD_ENV, "app_publish": "8080:80"},
            "Check the published port",
            "where the proxy serves plain HTTP",
            id="wrong-container-port",
        ),
        pytest.param(
            {"app_env": GOOD_ENV, "app_domain": "not a domain"},
            "Check the proxy settings",
            'app_domain must be "" (plain HTTP on app_publish) or a domain name',
            id="bad-domain",
        ),
        pytest.param(
            {"app_env": GOOD_ENV, "app_container_memory": "lots"},
            "Check the container limits",
            "app_container_memory must be a size such as 512m or 1g",
            id="bad-limit",
        ),
        pytest.param(
            {"app_env": {**GOOD_ENV, "LOG_LEVL": "DEBUG"}},
            "Check the settings in app_env against the known keys",
            "did you mean 'LOG_LEVEL'",
            id="unknown-setting",
        ),
        pytest.param(
            {"app_env": GOOD_ENV, "app_image_source": "ftp"},
            "Validating arguments against arg spec 'validate' - "
            "Check every variable a deploy or rollback uses, on the controller (the validation play)",
            "value of app_image_source must be one of: registry, archive, got: ftp",
            id="bad-choice",
        ),
    ],
)
def test_bad_inventory_fails_in_preflight_without_changes(inventory, tmp_path, variables, task, message):
    result = deploy(inventory, tmp_path, variables)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    # The validation play reports the failed rule, by name, with its message; nothing ran after it.
    assert failed_task(result.stdout) == REPORT, output
    report = " ".join(output.split())  # the YAML output folds long messages
    assert f"app ({task}): " in report, output
    assert message in report, output
    assert re.search(r"changed=0\s", result.stdout), output
    assert not host_has_app_tree()
    assert SECRET not in output
    assert str(variables["app_env"].get("SECRET_KEY")) not in output or not variables["app_env"].get(
        "SECRET_KEY"
    )
    if "SECRET_KEY" in variables["app_env"] and variables["app_env"]["SECRET_KEY"]:
        assert "Make one with: python3 -c 'import secrets" in output or task != TASK_SECRET


TASK_SECRET = "Check that SECRET_KEY is strong and not a published example"


@pytest.mark.parametrize("playbook", ["backup.yml", "restore.yml", "rollback.yml"])
def test_operations_on_a_host_never_deployed_are_refused_without_changes(inventory, tmp_path, playbook):
    # Each says "deploy first" before it installs or changes anything.
    variables = {"app_env": GOOD_ENV, "backup_restore_source": "file", "backup_restore_file": "/root/x.db"}
    result = deploy(inventory, tmp_path, variables, playbook=playbook)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"The app was never deployed on {HOST} (no /etc/webapp/app.json)" in output, output
    program = subprocess.run(["docker", "exec", HOST, "test", "-e", "/usr/local/sbin/webappctl"], check=False)
    assert program.returncode != 0, "the program was installed"
    assert re.search(r"changed=0\s", result.stdout), output
    assert not host_has_app_tree()
