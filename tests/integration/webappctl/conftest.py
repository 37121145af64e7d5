"""Fixtures for the webappctl tests: a local "host" per test module (ctlhost.py), with the test
releases tagged into its own repository."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import hostkit
import pytest
import testimages as images
from ctlhost import CtlHost


@pytest.fixture(scope="module")
def test_images() -> None:
    images.ensure(images.V1, images.V2, images.BROKEN, images.UNHEALTHY, images.AHEAD, images.AHEAD_BROKEN)


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, test_images: None
) -> Iterator[CtlHost]:
    tag = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:12].replace("_", "")
    the_host = CtlHost(tmp_path_factory.mktemp("ctl"), tag).up()
    try:
        yield the_host
    finally:
        the_host.down()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free loopback port: the AWS the program's CLI calls reach in these tests."""
    port = hostkit.free_port()
    server = shutil.which("moto_server", path=str(hostkit.VENV_BIN)) or "moto_server"
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310 (loopback)
                    break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {endpoint}")
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
