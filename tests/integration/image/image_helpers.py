"""Helpers for the image tests (a module of its own: every test folder has a conftest module)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request

from support import hostkit

REPO = hostkit.ROOT
# Overridable so a second run on a shared engine keeps to its own names and ports.
IMAGE = os.environ.get("WEBAPP_TEST_IMAGE", "webapp:test")
NAME_PREFIX = os.environ.get("WEBAPP_TEST_PREFIX", "webapp-test")
_PORT_BASE = int(os.environ.get("WEBAPP_TEST_PORT_BASE", "18000"))
# 18000-18059 only (the host tests use fixed ports from 18080 up), split per pytest-xdist worker:
# between "this port is free" and docker binding it, another worker must not pick the same one.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 3
PORTS = range(_PORT_BASE + 20 * _WORKER, _PORT_BASE + 20 + 20 * _WORKER)
# Every container here runs the way production does: read-only root, no capabilities, and a
# SECRET_KEY long enough to sign API tokens.
SECRET_KEY = "image-tests-secret-key-0123456789abcdef"
HARDENING = [
    "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    "-e", f"SECRET_KEY={SECRET_KEY}",
]  # fmt: skip


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def free_port() -> int:
    return hostkit.free_port(PORTS)


def get(url: str, timeout: float = 3) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http://127.0.0.1 only)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def issue_token(container: str, name: str = "tests") -> str:
    """A write token, issued in the running container the way an operator does."""
    return docker("exec", container, "python", "-m", "app.tokens", "issue", name).stdout.strip()


def post(port: int, token: str, name: str, data: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/items",
        data=json.dumps({"name": name, "data": data or {}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (http://127.0.0.1 only)
        return response.status, json.loads(response.read())


def wait_healthy(port: int, name: str, seconds: float = 30) -> dict:
    """The /health body once the container answers 200; else the test fails with its logs."""

    def logs() -> str:
        found = docker("logs", name, check=False)
        return f"{found.stdout}{found.stderr}"

    return hostkit.wait_healthy(f"http://127.0.0.1:{port}", timeout=seconds, interval=0.3, diagnose=logs)
