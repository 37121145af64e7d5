"""Run a command where the app answers on 127.0.0.1:8000, in a network namespace of its own (so the
port never meets a demo or another test on this machine), then stop the app.

    unshare --net python netns_app.py WORKDIR COMMAND [ARGS...]

The app is this checkout's, migrated and served by uvicorn as the image's entrypoint does, on a
SQLite file in WORKDIR. Exit status: the command's."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """A new namespace's loopback is down; `ip link set lo up` without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    sys.exit(f"netns_app: the app did not answer on {url}")


def main(workdir: Path, command: list[str]) -> int:
    loopback_up()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
        "SECRET_KEY": "netns-app-test-secret",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-m", "app.migrate"], env=env, cwd=workdir, check=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "8000",
         "--log-config", str(REPO / "app" / "logging.json"), "--log-level", "warning"],
        env=env, cwd=workdir,
    )  # fmt: skip
    try:
        wait_healthy("http://127.0.0.1:8000/health", server)
        return subprocess.run(command, check=False).returncode
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
