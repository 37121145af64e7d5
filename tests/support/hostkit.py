"""What the tests that drive real hosts share: the test host containers, the environment
ansible-playbook runs in, free ports, waiting for the app's /health, and reading every item the app
serves. Imported as `support.hostkit` (pyproject.toml puts tests/ on pytest's path)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from support import livecopy

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
HOST_SCRIPT = ROOT / "scripts" / "host-container.sh"
SSH_KEY = ROOT / "build" / "ssh" / "id_ed25519"
TEST_HOST_SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


PROXY_IMAGE = "webapp-proxy:2.11.7"


def ensure_image(tag: str = "webapp:local") -> None:
    """The app image (scripts/build-image.sh) and the proxy image every deploy also ships
    (scripts/build-proxy-image.sh), each built unless the engine already has its tag."""
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        subprocess.run([str(ROOT / "scripts" / "build-image.sh"), tag], check=True, timeout=900)
    if subprocess.run(["docker", "image", "inspect", PROXY_IMAGE], capture_output=True).returncode != 0:
        subprocess.run([str(ROOT / "scripts" / "build-proxy-image.sh")], check=True, timeout=900)


def host_up(
    name: str, ssh_port: int, app_port: int | None = None, device_rule: str = "", publish: str = ""
) -> None:
    """A Debian 12 systemd host container (scripts/host-container.sh), ready for ssh. `device_rule`
    (a devices-cgroup rule such as 'b 7:* rmw') lets it open block devices the test plugs in;
    `publish` adds port mappings ('127.0.0.1:18443:443 ...')."""
    ports = [str(ssh_port), *([str(app_port)] if app_port else [])]
    env = {**os.environ, "HOST_DEVICE_RULE": device_rule, "HOST_PUBLISH": publish}
    subprocess.run([str(HOST_SCRIPT), "up", name, *ports], check=True, timeout=300, env=env)


def host_down(name: str) -> None:
    subprocess.run([str(HOST_SCRIPT), "down", name], check=False, timeout=120)


def load_images(host: str, *tags: str, timeout: float = 600) -> None:
    """Images into a host container's engine straight from this machine's (docker save | docker load);
    fails the test with the engine's message unless both ends succeed."""
    save = subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE)
    loaded = subprocess.run(
        ["docker", "exec", "-i", host, "docker", "load", "-q"], stdin=save.stdout, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
    save.stdout.close()  # type: ignore[union-attr]
    if save.wait(timeout=60) != 0 or loaded.returncode != 0:
        pytest.fail(f"loading {tags} onto {host} failed: {loaded.stderr}")


def host_vars(ssh_port: int) -> dict[str, object]:
    """Inventory variables that reach a host_up() host as a real one: root over ssh with the key."""
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": ssh_port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(SSH_KEY),
        # A throwaway host whose key changes with every run: the tests' own inventories skip the host key
        # check (ansible.cfg checks host keys; inventory/production pins them).
        "ansible_ssh_common_args": TEST_HOST_SSH_ARGS,
    }


def run_name(suffix: str) -> str:
    """The name of a container or network a test creates: WEBAPP_TEST_PREFIX (default "webapp-") then
    suffix, so that runs sharing a Docker engine can keep apart."""
    return os.environ.get("WEBAPP_TEST_PREFIX", "webapp-") + suffix


def run_port(default: int, slot: int) -> int:
    """A port a test publishes on 127.0.0.1: default, or WEBAPP_TEST_PORT_BASE + slot when that is set."""
    base = os.environ.get("WEBAPP_TEST_PORT_BASE")
    return int(base) + slot if base else default


def free_port(ports: range | None = None) -> int:
    """A port on 127.0.0.1 that the kernel says is free now (for servers the test starts itself): the
    first free one of `ports`, else any. TEST_PORT_RANGE (e.g. 25000-25999) keeps the latter within a
    range, for runs that share a machine."""
    if ports is None:
        first, _, last = os.environ.get("TEST_PORT_RANGE", "0-0").partition("-")
        ports = range(int(first), int(last or first) + 1)
        # Each process starts at its own place in the range, so parallel workers rarely pick the same port.
        start = os.getpid() % len(ports)
        candidates = [*ports[start:], *ports[:start]]
    else:
        candidates = list(ports)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError(f"no free port on 127.0.0.1 in {ports.start}-{ports.stop - 1}")


def ansible_env(**extra: str) -> dict[str, str]:
    """The process environment for ansible-playbook: the project's config, plain output, and the
    venv first on PATH (the connection plugins look up ansible tools by name)."""
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        **extra,
    }


def wait_healthy(
    app: str, timeout: float = 60, interval: float = 0.5, diagnose: Callable[[], str] | None = None
) -> dict:
    """Until GET {app}/health answers 200; its body. Else fail, with what `diagnose` reports (e.g. logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{app}/health", timeout=2)
            if response.status_code == 200:
                return response.json()
        except (requests.RequestException, ValueError):
            pass
        time.sleep(interval)
    detail = f":\n{diagnose()}" if diagnose else ""
    pytest.fail(f"{app}/health did not answer 200 within {timeout}s{detail}")


def served_items(app: str) -> list[dict]:
    """Every item the app serves, following the cursor."""
    found: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = requests.get(f"{app}/api/items", params=params, timeout=10).json()
        found.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return found


# app URL -> (host container, app container, write token), filled by authorize()
_AUTH: dict[str, tuple[str, str, str]] = {}


def authorize(app: str, host: str, container: str = "webapp") -> dict[str, str]:
    """Issue a write token in the app container on a host (as playbooks/token.yml does; host "" is
    this machine's engine); later writes to `app` through these helpers carry it. The header."""
    name = f"tests-{uuid.uuid4().hex[:12]}"
    on_host = ["docker", "exec", host] if host else []
    command = [*on_host, "docker", "exec", container, "python", "-m", "app.tokens", "issue", name]
    issued = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if issued.returncode != 0:
        pytest.fail(f"no token issued on {host}: {issued.stderr.strip()}")
    _AUTH[app] = (host, container, issued.stdout.strip())
    return auth_headers(app)


def auth_headers(app: str) -> dict[str, str]:
    """The Authorization header authorize() gave `app` ({} before that)."""
    entry = _AUTH.get(app)
    return {"Authorization": f"Bearer {entry[2]}"} if entry else {}


def post_item(app: str, name: str, data: dict, session: requests.Session | None = None) -> str:
    """Create an item through the API; its id once the app acknowledged it (201)."""

    def post() -> requests.Response:
        body = {"name": name, "data": data}
        return (session or requests).post(
            f"{app}/api/items", json=body, headers=auth_headers(app), timeout=10
        )

    response = post()
    if response.status_code == 401 and app in _AUTH:
        # A restore put back a database from before the token was issued: issue one in it.
        authorize(app, *_AUTH[app][:2])
        response = post()
    assert response.status_code == 201, response.text
    return response.json()["id"]


def db_copy(container: str, path: str, workdir: Path) -> Path:
    """A local copy of a live SQLite file on a host container, with its -wal if it has one, taken as
    one state of the database (support.livecopy) so the host's file is never opened; the copy's path."""

    def read(name: str) -> bytes | None:
        copied = subprocess.run(["docker", "exec", container, "cat", name], capture_output=True)
        if copied.returncode == 0:
            return copied.stdout
        if name == path:
            pytest.fail(f"cannot read {path} on {container}: {copied.stderr.decode(errors='replace')}")
        return None

    return livecopy.snapshot(read, path, workdir / Path(path).name)


def items_in(database: Path) -> dict[str, str]:
    """The items (id -> name) inside a local SQLite file (a copy: never the live one)."""
    with sqlite3.connect(database) as conn:
        return dict(conn.execute("SELECT id, name FROM items"))


def db_items(container: str, path: str, workdir: Path) -> dict[str, str]:
    """The items (id -> name) inside a SQLite file on a host container (read from a copy)."""
    return items_in(db_copy(container, path, workdir))


@contextmanager
def ssh_greeter() -> Iterator[int]:
    """A loopback port that greets like OpenSSH and presents no host key (ssh-keyscan finds none), standing
    in for a host's sshd; its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
