"""playbooks/render-user-data.yml against the emulator: the app's settings, a vault value among them, go to
SSM Parameter Store as a SecureString under /<project>/<environment>/, and the console user-data script
holds none of them: it reads the parameter at boot with the instance role, whose profile the run creates.
The script is valid bash, does what the role's variables say, and no secret reaches Ansible's output.

Running the script on a systemd host, against the emulator, is tested in test_aws_instance_host.py."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from aws_helpers import REGION, aws_client, run_playbook
from support.hostkit import ROOT as REPO
from support.playbook import vault_view

from app.settings import DEFAULTS

PLAYBOOK = REPO / "playbooks" / "render-user-data.yml"
ENVIRONMENT = "user-data-test"
PARAMETER = f"/webapp/{ENVIRONMENT}/app.env"
VAULT = REPO / "inventory" / "local" / "group_vars" / "webapp" / "vault.yml"
VAULT_PASSWORD = REPO / "inventory" / "local" / "vault-password"
# Characters a shell would expand or split on, to show they reach the settings literally.
OTHER_SECRET = "s3cr3t-$HOME-`id`-'q'-\"dq\"-#-=x"


def base_vars(endpoint: str, dest: Path, **overrides: object) -> dict[str, object]:
    return {
        "ec2_instance_endpoint_url": endpoint,
        "ec2_instance_region": REGION,
        "ec2_instance_environment": ENVIRONMENT,
        "ec2_instance_user_data_dest": str(dest),
        **overrides,
    }


@pytest.fixture(scope="module")
def vault_secret() -> str:
    """The secret in the local inventory's vault, as ansible-vault shows it."""
    secret = str(vault_view(VAULT, VAULT_PASSWORD)["vault_app_secret_key"])
    assert len(secret) > 12
    return secret


@pytest.fixture(scope="module")
def rendered(
    moto_endpoint: str, inventory: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The script, rendered from settings that reference the vault (decrypted by ansible-playbook)."""
    workdir = tmp_path_factory.mktemp("user-data")
    dest = workdir / "out" / "user-data.sh"
    variables = base_vars(
        moto_endpoint,
        dest,
        app_env={
            "SECRET_KEY": "{{ vault_app_secret_key }}",
            "DATABASE_URL": OTHER_SECRET.join(["sqlite:////app/data/", ".db"]),
            "LOG_LEVEL": "DEBUG",
        },
        app_image="registry.example.com/webapp:1.2.3",
        ec2_instance_user_data_log_max_size="20m",
        ec2_instance_user_data_log_max_file=3,
        ec2_instance_user_data_daemon_options={"max-concurrent-downloads": 2},
    )
    vault = ("-e", f"@{VAULT}", "--vault-password-file", str(VAULT_PASSWORD), "-vv")
    run = run_playbook(PLAYBOOK, inventory, workdir, variables, *vault)
    assert run.rc == 0, run.output[-3000:]
    return dest, run.output


@pytest.fixture(scope="module")
def script(rendered: tuple[Path, str]) -> str:
    return rendered[0].read_text()


def heredoc(script: str, tag: str) -> str:
    match = re.search(rf"<<'{tag}'\n(.*?)^{tag}$", script, re.S | re.M)
    assert match, f"no {tag} heredoc"
    return match.group(1)


def test_script_holds_no_vault_value_nor_any_setting(script, vault_secret):
    assert vault_secret not in script
    assert "s3cr3t" not in script
    assert "SECRET_KEY" not in script


def test_the_settings_are_a_securestring_in_the_project_path(rendered, moto_endpoint, vault_secret):
    ssm = aws_client("ssm", moto_endpoint)
    (described,) = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [PARAMETER]}])[
        "Parameters"
    ]
    assert described["Type"] == "SecureString"
    assert described["KeyId"] == "alias/aws/ssm"
    value = ssm.get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    settings = dict(line.split("=", 1) for line in value.splitlines())
    assert settings["SECRET_KEY"] == vault_secret
    assert settings["DATABASE_URL"] == f"sqlite:////app/data/{OTHER_SECRET}.db"
    assert settings["LOG_LEVEL"] == "DEBUG"
    # The merged defaults too, as the SSH path's .env holds them, one sorted line each.
    assert set(settings) == set(DEFAULTS) - {"APP_VERSION"}
    assert value.splitlines() == sorted(value.splitlines()) and value.endswith("\n")
    tags = {
        t["Key"]: t["Value"]
        for t in ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=PARAMETER)["TagList"]
    }
    assert tags["Environment"] == ENVIRONMENT and tags["ManagedBy"] == "ansible"


def test_the_instance_profile_to_launch_with_exists(rendered, moto_endpoint, script):
    profile = aws_client("iam", moto_endpoint).get_instance_profile(
        InstanceProfileName=f"webapp-{ENVIRONMENT}-instance"
    )
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == [f"webapp-{ENVIRONMENT}-instance"]
    assert f"instance profile webapp-{ENVIRONMENT}-instance" in " ".join(rendered[1].split())
    assert f"PROFILE=webapp-{ENVIRONMENT}-instance" in script


def test_script_reads_the_settings_from_ssm_with_the_instance_role(script):
    assert f"PARAMETER={PARAMETER}" in script
    assert f"REGION={REGION}" in script
    # No endpoint rendered for AWS itself; no credentials of any kind (the instance role's come from IMDS).
    assert "AWS_ENDPOINT=''" in script
    assert "aws ssm get-parameter" in script and "--with-decryption" in script
    assert not re.search(r"AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)|aws_access_key", script)
    assert 'install -m 0600 -o root -g root /dev/null "$ENV_FILE.new"' in script


def test_script_is_written_readable(rendered):
    dest, _ = rendered
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644


def test_script_is_valid_bash(rendered):
    subprocess.run(["bash", "-n", str(rendered[0])], check=True)
    assert rendered[0].read_text().startswith("#!/bin/bash\n")


def test_secrets_never_reach_the_output(rendered, vault_secret):
    _, output = rendered
    assert vault_secret not in output
    assert "s3cr3t" not in output


def test_docker_and_the_aws_cli_are_installed_with_dnf_or_apt_get(script):
    assert "command -v dnf" in script and 'dnf install -y -q "${dnf_packages[@]}"' in script
    assert "dnf_packages+=(docker)" in script and "dnf_packages+=(awscli-2)" in script
    assert "apt_packages+=(docker.io)" in script and "apt_packages+=(awscli)" in script
    assert script.index("command -v dnf") < script.index("command -v apt-get")
    assert "systemctl enable --now docker" in script


def test_docker_daemon_is_hardened_rotates_logs_and_takes_extra_options(script):
    assert json.loads(heredoc(script, "DAEMON_JSON")) == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "20m", "max-file": "3"},
        "live-restore": True,
        "icc": False,
        "no-new-privileges": True,
        "userland-proxy": False,
        "max-concurrent-downloads": 2,
    }


def test_a_changed_daemon_json_is_reloaded_before_the_restart(script):
    # live-restore takes effect on the reload, so the restart already keeps the container running.
    start = script[script.index("start_docker() {") :]
    assert start.index("systemctl reload docker") < start.index("systemctl restart docker")
    assert "LIVE_RESTORE=true" in script


def test_app_tree_and_owner(script):
    assert "APP_UID=10001" in script
    assert "DATA_DIR=/app/data" in script
    assert 'chown "$APP_UID:$APP_UID" "$DATA_DIR"' in script
    assert "DATA_DEVICE=/dev/sdf" in script


def test_container_runs_hardened_with_the_env_file(script):
    options = re.search(r"^RUN_OPTIONS=\((.*?)^\)$", script, re.S | re.M)
    assert options
    run = " ".join(options.group(1).split())
    assert '"${RUN_OPTIONS[@]}" "$IMAGE"' in script
    for flag in (
        "--restart unless-stopped",
        "--read-only",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        '--user "$APP_UID:$APP_UID"',
        '--volume "$DATA_DIR:/app/data"',
        '--env-file "$ENV_FILE"',
        '--publish "$HOST_PORT:$CONTAINER_PORT"',
    ):
        assert flag in run, flag
    assert "IMAGE=registry.example.com/webapp:1.2.3" in script
    assert "HOST_PORT=8000" in script and "CONTAINER_PORT=8000" in script


def test_missing_secret_fails_naming_the_key_and_writes_nothing(moto_endpoint, inventory, tmp_path):
    dest = tmp_path / "user-data.sh"
    variables = base_vars(
        moto_endpoint,
        dest,
        ec2_instance_environment="user-data-refused",
        app_env={"SECRET_KEY": "", "LOG_LEVL": "hush-value"},
    )
    run = run_playbook(PLAYBOOK, inventory, tmp_path, variables)
    assert run.rc != 0
    message = " ".join(run.output.split())
    assert "'SECRET_KEY'" in message
    assert "did you mean 'LOG_LEVEL'" in message
    assert "hush-value" not in run.output
    assert not dest.exists()
    # Refused before any AWS call: no parameter, no instance profile.
    ssm = aws_client("ssm", moto_endpoint)
    refused = [{"Key": "Path", "Values": ["/webapp/user-data-refused"]}]
    assert ssm.describe_parameters(ParameterFilters=refused)["Parameters"] == []
    profiles = aws_client("iam", moto_endpoint).list_instance_profiles()["InstanceProfiles"]
    assert "webapp-user-data-refused-instance" not in {p["InstanceProfileName"] for p in profiles}


def test_env_defaults_are_the_app_settings():
    defaults = yaml.safe_load((REPO / "roles" / "ec2_instance" / "defaults" / "main.yml").read_text())
    assert set(defaults["ec2_instance_user_data_env_defaults"]) == set(DEFAULTS) - {"APP_VERSION"}
