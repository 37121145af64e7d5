"""`make check` (playbooks/check.yml): the validation pass of site.yml for a given inventory, with no
network at all (the run is in a network namespace of its own, with only a loopback that is down). It
passes on inventory/local and on the production example once its vault holds a key of one's own (the
example's key is public, and the only problem found there); on an inventory with mistakes it prints
each one, naming the variable, the file it was set in and the fix, and fails."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support import hostkit
from support.playbook import vault_view, vault_write

ROOT = hostkit.ROOT
PRODUCTION = ROOT / "inventory" / "production"
EXAMPLE_PASSWORD = PRODUCTION / "vault-password.example"


def make_check(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """make check ARGS, offline: unshare -n gives the run no network at all."""
    env = {**hostkit.ansible_env(), **({"HOME": str(home)} if home else {})}
    return subprocess.run(
        ["unshare", "--net", "make", "--no-print-directory", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def operator_home(tmp_path: Path) -> Path:
    """A home with the SSH key inventory/production names (~/.ssh/id_ed25519.pub)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return home


def test_offline_means_offline():
    # The control for "without any network access": inside the namespace nothing is reachable, not
    # even this machine's own loopback services.
    probe = subprocess.run(
        [
            "unshare",
            "--net",
            "python3",
            "-c",
            "import socket; socket.create_connection(('127.0.0.1', 22), 2)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.returncode != 0 and "Network is unreachable" in probe.stderr, probe.stderr


@pytest.mark.docker
def test_check_passes_on_the_local_inventory():
    # inventory/local ships its images as archives: the controller's engine must hold them (its socket
    # is a file, reachable without a network), and the rehearsal's key must exist.
    hostkit.ensure_image("webapp:local")
    if not hostkit.SSH_KEY.exists():  # as scripts/host-container.sh makes it for the rehearsal
        hostkit.SSH_KEY.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "webapp-test-host",
                "-f",
                str(hostkit.SSH_KEY),
            ]
        )
    assert hostkit.SSH_KEY.with_suffix(".pub").exists()
    run = make_check()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "No problem found in" in " ".join(run.stdout.split())


def test_on_the_production_example_the_only_problem_is_the_published_key(tmp_path):
    # The example vault's SECRET_KEY is public (it is in this repository): the check says so, and how to
    # make one's own, and finds nothing else in the example.
    run = make_check(
        "INVENTORY=inventory/production",
        f"VAULT_PASSWORD_FILE={EXAMPLE_PASSWORD}",
        home=operator_home(tmp_path),
    )
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, output[-3000:]
    problems = re.findall(r"^\s+- '(.+?):", run.stdout, re.M)
    assert problems == ["app (Check that SECRET_KEY is strong and not a published example)"], output[-3000:]
    assert "is the example value published in this repository" in output
    assert "Make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'" in output


def test_check_passes_on_the_production_example_with_a_key_of_ones_own(tmp_path):
    inventory = tmp_path / "production"
    shutil.copytree(PRODUCTION, inventory)
    vault = inventory / "group_vars" / "webapp" / "vault.yml"
    values = vault_view(vault, EXAMPLE_PASSWORD)
    values["vault_app_secret_key"] = secrets.token_urlsafe(48)
    vault_write(vault, EXAMPLE_PASSWORD, values)
    run = make_check(
        f"INVENTORY={inventory}", f"VAULT_PASSWORD_FILE={EXAMPLE_PASSWORD}", home=operator_home(tmp_path)
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    output = " ".join(run.stdout.split())
    assert "No problem found in" in output and "webapp-production" in output
    assert values["vault_app_secret_key"] not in run.stdout + run.stderr


def test_check_prints_each_problem_with_its_file_and_fails(tmp_path):
    inventory = tmp_path / "production"
    shutil.copytree(PRODUCTION, inventory)
    aws = inventory / "group_vars" / "all" / "aws.yml"
    aws.write_text(aws.read_text().replace("198.51.100.0/24", "198.51.100.7/24"))
    webapp = inventory / "group_vars" / "webapp" / "vars.yml"
    settings = yaml.safe_load(webapp.read_text())
    webapp.write_text(webapp.read_text() + "\napp_imgae: registry.example.com/webapp:1.0.1\n")
    run = make_check(
        f"INVENTORY={inventory}", f"VAULT_PASSWORD_FILE={EXAMPLE_PASSWORD}", home=operator_home(tmp_path)
    )
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, output[-3000:]
    line = len(webapp.read_text().splitlines())
    assert (
        f"app_imgae (set in {webapp}:{line}): no role reads this variable. Did you mean app_image?" in output
    )
    assert "has host bits set; write the network address 198.51.100.0/24" in output
    assert f"ec2_instance_ssh_cidrs is set in {aws}:" in output
    assert "No problem found" not in output
    assert settings["app_env"]["SECRET_KEY"] == "{{ vault_app_secret_key }}"
    secret = subprocess.run(
        [
            str(hostkit.VENV_BIN / "ansible-vault"),
            "view",
            "--vault-password-file",
            str(EXAMPLE_PASSWORD),
            str(PRODUCTION / "group_vars" / "webapp" / "vault.yml"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    ).stdout
    assert yaml.safe_load(secret)["vault_app_secret_key"] not in output
