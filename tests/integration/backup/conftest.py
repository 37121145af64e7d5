"""Fixtures for the backup role tests: an AWS emulator (moto) on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests
from backup_helpers import aws_client, aws_env
from hostkit import VENV_BIN, free_port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = shutil.which("moto_server", path=str(VENV_BIN)) or "moto_server"
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"moto_server did not start on {endpoint}")
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """boto3 clients on the emulator; every test starts from an empty account."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    for key, value in aws_env(moto_endpoint).items():
        monkeypatch.setenv(key, value)
    return {
        "endpoint": moto_endpoint,
        "ec2": aws_client("ec2", moto_endpoint),
        "s3": aws_client("s3", moto_endpoint),
    }
