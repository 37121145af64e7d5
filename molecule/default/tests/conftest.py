"""Shared helpers: the host under test is reached over ssh by testinfra; the app through the
port published on 127.0.0.1 of the controller."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import hostkit  # tests/support, on pytest's path (pyproject.toml)

SCENARIO = Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
CONTAINER = "webapp"


def platform() -> dict[str, Any]:
    return yaml.safe_load((SCENARIO / "molecule.yml").read_text())["platforms"][0]


def app_url(path: str) -> str:
    return f"http://127.0.0.1:{platform()['app_port']}{path}"


def http(method: str, path: str, body: dict[str, Any] | None = None, token: str = "") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(  # noqa: S310 - a fixed http://127.0.0.1 URL
        app_url(path), data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def wait_healthy(timeout: float = 90) -> None:
    hostkit.wait_healthy(app_url(""), timeout=timeout, interval=1)


def journal(host: Any, unit: str) -> str:
    return host.run(f"journalctl -u {unit} --no-pager -n 60").stdout


def inspect(host: Any, name: str = CONTAINER) -> dict[str, Any]:
    result = host.run(f"docker inspect {name}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)[0]


@pytest.fixture
def secret_values(host: Any) -> list[str]:
    env = host.ansible.get_variables()["app_env"]
    return [str(env["SECRET_KEY"])]
