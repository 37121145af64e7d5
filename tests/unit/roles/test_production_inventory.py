"""The production inventory is a working example: it parses, its vault decrypts with the documented
example password (and only with it), and its settings are ones the app role knows."""

from __future__ import annotations

import configparser
import json
import subprocess
from pathlib import Path

import yaml
from support import hostkit

PROJECT = Path(__file__).resolve().parents[3]
INVENTORY = PROJECT / "inventory" / "production"
VAULT = INVENTORY / "group_vars" / "webapp" / "vault.yml"
PASSWORD = INVENTORY / "vault-password.example"
BIN = PROJECT / ".venv" / "bin"


def ansible_inventory(*args: str) -> subprocess.CompletedProcess[str]:
    env = hostkit.ansible_env()
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    command = [str(BIN / "ansible-inventory"), "-i", str(INVENTORY), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT, timeout=120)


def test_vault_file_is_encrypted():
    assert VAULT.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")


def test_ansible_cfg_names_no_vault_password():
    config = configparser.ConfigParser()
    config.read(PROJECT / "ansible.cfg")
    assert not any("vault_password" in key for section in config.sections() for key in config[section])


def test_inventory_parses_and_vault_decrypts_with_the_example_password():
    result = ansible_inventory("--vault-password-file", str(PASSWORD), "--list")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["webapp"]["hosts"] == ["webapp-production"]
    hostvars = data["_meta"]["hostvars"]["webapp-production"]
    assert hostvars["vault_app_secret_key"]
    assert hostvars["app_env"]["SECRET_KEY"] == "{{ vault_app_secret_key }}"


def test_vault_does_not_open_without_a_password():
    result = ansible_inventory("--list")
    assert result.returncode != 0
    assert "vault" in result.stderr.lower()


def test_settings_are_known_to_the_app_role():
    settings = yaml.safe_load((INVENTORY / "group_vars" / "webapp" / "vars.yml").read_text())["app_env"]
    defaults = yaml.safe_load((PROJECT / "roles" / "app" / "defaults" / "main.yml").read_text())
    known = defaults["app_env_defaults"]
    assert set(settings) <= set(known)


def test_the_example_password_is_documented_as_public():
    readme = (INVENTORY / "README.md").read_text()
    assert "vault-password.example" in readme and "never" in readme.lower()
