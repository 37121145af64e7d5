"""What the engine tests use: their host (a Debian 12 systemd container from scripts/host-container.sh,
webapp-engine-test, ssh on 127.0.0.1:2235, the app on 127.0.0.1:18095; WEBAPP_TEST_PREFIX replaces
"webapp-" and WEBAPP_TEST_PORT_BASE moves the ports to BASE+0 and BASE+1, so runs sharing a machine
keep apart), the project's playbooks run against it, probes of the app from the controller and from
the host itself, and moto's server on the controller's 127.0.0.1, shown on the host's own 127.0.0.1
by an ssh reverse tunnel (both sides see one AWS at one address)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml
from support import hostkit

HOST = os.environ.get("WEBAPP_TEST_PREFIX", "webapp-") + "engine-test"
PORT_BASE = os.environ.get("WEBAPP_TEST_PORT_BASE")
SSH_PORT = int(PORT_BASE) + 0 if PORT_BASE else 2235
APP_PORT = int(PORT_BASE) + 1 if PORT_BASE else 18095
APP = f"http://127.0.0.1:{APP_PORT}"
IMAGE = "webapp:local"
SECRET = "engine-test-secret-5d1c0e-signs-api-tokens"  # 32 bytes or more: it signs API tokens
PROBE_STOP = "/run/engine-test-probe.stop"
PROBE_READY = "/run/engine-test-probe.ready"

# Runs on the host: GETs /health on 127.0.0.1:8000 (the host's own path, the deploy's health gate's)
# until PROBE_STOP exists; marks PROBE_READY after its first answer; prints what it saw.
HOST_PROBE = f"""
import json, os, urllib.request
seen = {{"ok": 0, "failed": []}}
while not os.path.exists({PROBE_STOP!r}):
    try:
        with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=10) as response:
            response.read()
            seen["ok"] += 1
            if seen["ok"] == 1:
                open({PROBE_READY!r}, "w").close()
    except Exception as error:
        seen["failed"].append(repr(error))
print(json.dumps(seen))
"""


def on_host(
    *command: str, check: bool = True, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """A command on the host through the engine (observations and test setup; playbooks use ssh)."""
    proc = subprocess.run(
        ["docker", "exec", *(["-i"] if stdin is not None else []), HOST, *command],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed on {HOST}: {proc.stderr.strip()[-2000:]}")
    return proc


def inspect(name: str = "webapp") -> dict:
    return json.loads(on_host("docker", "inspect", name).stdout)[0]


def docker_info() -> dict:
    return json.loads(on_host("docker", "info", "--format", "{{json .}}").stdout)


def daemon_json() -> dict:
    return json.loads(on_host("cat", "/etc/docker/daemon.json").stdout)


def engine_pid() -> str:
    return on_host("systemctl", "show", "--property", "MainPID", "--value", "docker").stdout.strip()


def load_image(tag: str = IMAGE) -> None:
    """The controller's image into the host's engine (docker save | docker load)."""
    hostkit.load_images(HOST, tag)


def write_inventory(path: Path, group_vars: dict[str, object]) -> Path:
    base = {"app_image": IMAGE, "app_image_source": "archive", "app_env": {"SECRET_KEY": SECRET}}
    hosts = {HOST: hostkit.host_vars(SSH_PORT)}
    path.write_text(yaml.safe_dump({"webapp": {"hosts": hosts, "vars": {**base, **group_vars}}}))
    return path


@dataclass
class ControllerProbe:
    """GETs /health through the port published on the controller's 127.0.0.1 until the block ends."""

    ok: int = 0
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                requests.get(f"{APP}/health", timeout=10).raise_for_status()
                self.ok += 1
            except requests.RequestException as error:
                self.failed.append(repr(error))

    def __enter__(self) -> ControllerProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class HostProbe:
    """HOST_PROBE running on the host until the block ends; `seen` is what it reported."""

    seen: dict = field(default_factory=dict)

    def __enter__(self) -> HostProbe:
        on_host("rm", "-f", PROBE_STOP, PROBE_READY)
        self._proc = subprocess.Popen(
            ["docker", "exec", HOST, "python3", "-c", HOST_PROBE], stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while on_host("test", "-e", PROBE_READY, check=False).returncode != 0:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                pytest.fail("the probe on the host never got an answer from 127.0.0.1:8000")
            time.sleep(0.2)
        return self

    def __exit__(self, *_: object) -> None:
        on_host("touch", PROBE_STOP)
        out, _ = self._proc.communicate(timeout=60)
        self.seen = json.loads(out)


@contextmanager
def reverse_tunnel(endpoint: str) -> Iterator[None]:
    """The controller's 127.0.0.1:port (an endpoint http://127.0.0.1:PORT) shown on the host's
    127.0.0.1:port, over the host's ssh."""
    port = int(endpoint.rsplit(":", 1)[1])
    options = ["BatchMode=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]
    options += ["ExitOnForwardFailure=yes"]
    forward = f"127.0.0.1:{port}:127.0.0.1:{port}"
    ssh = [
        "ssh",
        "-N",
        "-i",
        str(hostkit.SSH_KEY),
        "-p",
        str(SSH_PORT),
        *(f"-o{option}" for option in options),
    ]
    proc = subprocess.Popen([*ssh, "-R", forward, "root@127.0.0.1"])
    check = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/moto-api/', timeout=2)"
    try:
        deadline = time.monotonic() + 30
        while on_host("python3", "-c", check, check=False).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"the host does not reach the emulator through the tunnel on 127.0.0.1:{port}")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def outcome(name: str = "webapp", timeout: float = 60) -> tuple[str, object, str]:
    """How a freshly started app container ends up: ("answered", status, the database's state on
    /health) or ("exited", exit code, its last log line)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = requests.get(f"{APP}/health", timeout=5)
            return "answered", answer.status_code, answer.json().get("database", "")
        except requests.RequestException:
            state = inspect(name)["State"]
            if not state["Running"] and state["Status"] == "exited":
                logs = on_host("docker", "logs", "--tail", "1", name, check=False)
                return "exited", state["ExitCode"], (logs.stdout + logs.stderr).strip()
            if time.monotonic() > deadline:
                pytest.fail(f"{name} neither answered on {APP}/health nor exited within {timeout}s")
            time.sleep(0.5)
