"""The filters in real Ansible: loaded via ansible.cfg, fed a vault secret, documented for ansible-doc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import hostkit

from plugins.filter.to_dotenv import to_dotenv

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
PLAYBOOK = Path(__file__).with_name("filters_playbook.yml")
SECRET = "Vault-s3cret-42!"
FILTERS = ["redact", "mask_secrets", "hide_secrets", "secret_values", "merge_defaults", "to_dotenv"]


def _ansible(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Ansible's own output: the project's redacted callback would hide a filter that let a secret through.
    env = hostkit.ansible_env(ANSIBLE_STDOUT_CALLBACK="default")
    return subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    work = tmp_path_factory.mktemp("play")
    password = work / "vault-password"
    password.write_text("test-vault-password\n")
    encrypted = _ansible(
        "ansible-vault",
        "encrypt_string",
        "--vault-password-file",
        str(password),
        "--name",
        "vault_app_secret",
        SECRET,
        cwd=work,
    )
    assert encrypted.returncode == 0, encrypted.stderr
    (work / "vault.yml").write_text(encrypted.stdout)
    env_file = work / "app.env"
    result = _ansible(
        "ansible-playbook",
        "-i",
        "localhost,",
        "--vault-password-file",
        str(password),
        "-e",
        f"@{work / 'vault.yml'}",
        "-e",
        f"env_dest={env_file}",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(PLAYBOOK),
        cwd=REPO,
    )
    return result, env_file


def test_playbook_using_every_filter_succeeds(play):
    result, _ = play
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok=6" in result.stdout and "failed=0" in result.stdout and "rescued=1" in result.stdout


def test_secret_never_reaches_ansible_output(play):
    result, _ = play
    assert SECRET not in result.stdout + result.stderr
    assert "DATABASE_URL: postgresql://app:[REDACTED]@db/app" in result.stdout
    assert "DATABASE_URL: postgresql://app:********@db/app" in result.stdout
    one_call = result.stdout.split("hidden in one call]", 1)[1].split("TASK [", 1)[0]
    assert "SECRET_KEY: '********'" in one_call and "LOG_LEVEL: info" in one_call


def test_env_file_holds_the_merged_settings(play):
    _, env_file = play
    assert env_file.read_text() == to_dotenv(
        {
            "DATABASE_URL": f"postgresql://app:{SECRET}@db/app",
            "DEBUG": False,
            "LOG_LEVEL": "info",
            "PORT": 8000,
            "SECRET_KEY": SECRET,
        }
    )
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_ansible_doc_reads_every_filter_s_documentation():
    result = _ansible("ansible-doc", "-t", "filter", "--json", *FILTERS, cwd=REPO)
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr
    docs = json.loads(result.stdout)
    for name in FILTERS:
        doc = docs[name]["doc"]
        assert doc["name"] == name and doc["short_description"]
        assert docs[name]["examples"].strip() and docs[name]["return"]
        texts = [doc["description"], *(option["description"] for option in doc["options"].values())]
        # A stray ": " in YAML turns a sentence into a dict; ansible-doc's text view then fails.
        assert all(
            isinstance(line, str) for text in texts for line in ([text] if isinstance(text, str) else text)
        )
