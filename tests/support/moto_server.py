"""moto's server on a free port of 127.0.0.1, up until the block ends: the one way the tests start it
on the controller (metadata_moto.py runs it in a container at the instance metadata address)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.hostkit import VENV_BIN, free_port

# moto's server with the few answers made AWS-like (see its docstring).
MOTO_LIKE_AWS = Path(__file__).resolve().with_name("moto_like_aws.py")


@contextmanager
def moto_server(like_aws: bool = False, console_dir: Path | None = None) -> Iterator[str]:
    """Yields the endpoint (http://127.0.0.1:PORT). like_aws runs it through moto_like_aws.py; with
    console_dir, instances print the files there as their console output (see moto_like_aws.py)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(MOTO_LIKE_AWS)] if like_aws else [str(VENV_BIN / "moto_server")]
    env = {**os.environ, **({"MOTO_CONSOLE_DIR": str(console_dir)} if console_dir else {})}
    proc = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
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
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
