"""playbooks/render-user-data.yml: the console user-data script is valid bash, does what the role's
variables say, is written 0600, and its secrets never reach Ansible's output.

Running the script on a systemd host is tested in test_aws_user_data_run.py; here only the heredoc that
writes /app/.env is executed, redirected to a temporary file."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from aws_helpers import REPO, run_playbook

from app.settings import DEFAULTS

PLAYBOOK = REPO / "playbooks" / "render-user-data.yml"
# Characters a shell would expand or split on, to show the heredoc writes them literally.
SECRET = "s3cr3t-$HOME-`id`-'q'-\"dq\"-#-=x"


@pytest.fixture(scope="module")
def rendered(inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("user-data")
    dest = workdir / "out" / "user-data.sh"
    variables = {
        "ec2_instance_user_data_dest": str(dest),
        "app_env": {"SECRET_KEY": SECRET, "LOG_LEVEL": "DEBUG"},
        "app_image": "registry.example.com/webapp:1.2.3",
        "ec2_instance_user_data_log_max_size": "20m",
        "ec2_instance_user_data_log_max_file": 3,
        "ec2_instance_user_data_daemon_options": {"max-concurrent-downloads": 2},
    }
    run = run_playbook(PLAYBOOK, inventory, workdir, variables, "-vv")
    assert run.rc == 0, run.output[-3000:]
    return dest, run.output


@pytest.fixture(scope="module")
def script(rendered: tuple[Path, str]) -> str:
    return rendered[0].read_text()


def heredoc(script: str, tag: str) -> str:
    match = re.search(rf"<<'{tag}'\n(.*?)^{tag}$", script, re.S | re.M)
    assert match, f"no {tag} heredoc"
    return match.group(1)


def test_script_is_written_0600(rendered):
    dest, _ = rendered
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_script_is_valid_bash(rendered):
    subprocess.run(["bash", "-n", str(rendered[0])], check=True)
    assert rendered[0].read_text().startswith("#!/bin/bash\n")


def test_secrets_never_reach_the_output(rendered):
    _, output = rendered
    assert "s3cr3t" not in output


def test_docker_is_installed_with_dnf_or_apt_get_and_enabled(script):
    assert "command -v dnf" in script and "dnf install -y -q docker" in script
    assert "command -v apt-get" in script and "apt-get install -y -qq docker.io" in script
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


def test_env_file_is_0600_and_holds_the_merged_settings_literally(script, tmp_path):
    assert 'install -m 0600 -o root -g root /dev/null "$ENV_FILE.new"' in script
    # Execute the script's own heredoc, redirected to a temporary file.
    block = re.search(r"^  cat >\"\$ENV_FILE\.new\" <<'APP_ENV'\n.*?^APP_ENV$", script, re.S | re.M)
    assert block
    target = tmp_path / "env"
    subprocess.run(["bash", "-c", f"set -eu; ENV_FILE={target}\n{block.group(0)}"], check=True)
    lines = (tmp_path / "env.new").read_text().splitlines()
    assert lines == sorted(lines)
    settings = dict(line.split("=", 1) for line in lines)
    assert settings["SECRET_KEY"] == SECRET
    assert settings["LOG_LEVEL"] == "DEBUG"
    assert settings["DATABASE_URL"] == "sqlite:////app/data/app.db"


def test_missing_secret_fails_naming_the_key_and_writes_nothing(inventory, tmp_path):
    dest = tmp_path / "user-data.sh"
    variables = {
        "ec2_instance_user_data_dest": str(dest),
        "app_env": {"SECRET_KEY": "", "LOG_LEVL": "hush-value"},
    }
    run = run_playbook(PLAYBOOK, inventory, tmp_path, variables)
    assert run.rc != 0
    message = " ".join(run.output.split())
    assert "'SECRET_KEY'" in message
    assert "did you mean 'LOG_LEVEL'" in message
    assert "hush-value" not in run.output
    assert not dest.exists()


def test_env_defaults_are_the_app_settings():
    defaults = yaml.safe_load((REPO / "roles" / "ec2_instance" / "defaults" / "main.yml").read_text())
    assert set(defaults["ec2_instance_user_data_env_defaults"]) == set(DEFAULTS) - {"APP_VERSION"}
