"""The AWS emulator as an instance sees AWS: moto (through tests/support/moto_like_aws.py) in its own
container at 169.254.169.254, EC2's instance metadata address, on a Docker network that systemd test
hosts join; published on 127.0.0.1 for the controller, so both sides see one AWS. On that address
moto answers the metadata service too, so a host's AWS CLI finds the instance role's credentials
there as on EC2. It runs the controller's own moto: the venv's packages, mounted read-only, on the
host image's Python.

The engine allows one network holding that address at a time, so modules that use it (run by
parallel pytest workers) take turns: each holds a file lock while its emulator's network exists."""

from __future__ import annotations

import fcntl
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

METADATA_IP = "169.254.169.254"
MOTO_LIKE_AWS = Path(__file__).resolve().with_name("moto_like_aws.py")
# One turn machine-wide: parallel runs share the engine.
TURN_LOCK = Path("/tmp/webapp-tests-metadata-address.lock")


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


@contextmanager
def emulator(name: str, network: str, port: int, console_dir: Path | None = None) -> Iterator[str]:
    """Yields the endpoint on 127.0.0.1; the network and the container are removed afterwards."""
    with TURN_LOCK.open("a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        with _emulator(name, network, port, console_dir) as endpoint:
            yield endpoint


@contextmanager
def _emulator(name: str, network: str, port: int, console_dir: Path | None) -> Iterator[str]:
    docker("rm", "-f", "-v", name, check=False)
    docker("network", "rm", network, check=False)
    docker("network", "create", "--subnet", "169.254.169.0/24", network)
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    endpoint = f"http://127.0.0.1:{port}"
    console = ["-v", f"{console_dir}:/console:ro", "-e", "MOTO_CONSOLE_DIR=/console"] if console_dir else []
    try:
        docker(
            "run", "-d", "--name", name, "--network", network, "--ip", METADATA_IP,
            "-p", f"127.0.0.1:{port}:80",
            "-v", f"{site}:/opt/site:ro",
            "-v", f"{MOTO_LIKE_AWS}:/opt/moto_like_aws.py:ro",
            *console, "-e", "PYTHONPATH=/opt/site",
            "--entrypoint", "python3", "webapp-host:bookworm",
            # Inside its own container; published on 127.0.0.1 only.
            "/opt/moto_like_aws.py", "-H", "0.0.0.0", "-p", "80",  # noqa: S104
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{endpoint}/moto-api/", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the emulator did not answer on {endpoint}:\n{docker('logs', name, check=False).stderr}"
                )
            time.sleep(0.5)
        yield endpoint
    finally:
        docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", network, check=False)
