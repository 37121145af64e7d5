"""Fixtures for the backup role tests: an AWS emulator (moto) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from support.aws import aws_client, aws_env
from support.moto_server import moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


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
