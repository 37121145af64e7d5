"""Fixtures for the AWS provisioning tests (helpers in aws_helpers.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_helpers import ec2_client, moto_server, provision_vars


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One emulator for the session; each test module keeps to its own Environment tag."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway ed25519 key pair; returns the public key's path."""
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "aws-test", "-f", str(key)], check=True
    )
    return key.with_suffix(".pub")


@pytest.fixture(scope="session")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only localhost, so the tests never read inventory/local (which belongs to the demo)."""
    path = tmp_path_factory.mktemp("inventory") / "hosts.ini"
    path.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return path


# The lifecycle modules each keep to their own Environment tag (their module-level ENVIRONMENT) and
# share these per-module fixtures.


@pytest.fixture(scope="module")
def ec2(moto_endpoint: str):
    return ec2_client(moto_endpoint)


@pytest.fixture(scope="module")
def variables(request: pytest.FixtureRequest, moto_endpoint: str, ssh_key: Path) -> dict[str, object]:
    """Provision variables for the module's own environment tag."""
    return provision_vars(moto_endpoint, ssh_key, request.module.ENVIRONMENT)


@pytest.fixture(scope="module")
def workdir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of the module's own, for the vars files and dumps of its playbook runs."""
    return tmp_path_factory.mktemp(request.module.__name__.removeprefix("test_aws_"))
