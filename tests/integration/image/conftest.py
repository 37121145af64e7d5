"""Fixtures for the image tests: build once per session, run containers named webapp-test-*."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
from image_helpers import HARDENING, IMAGE, NAME_PREFIX, REPO, docker, free_port


@pytest.fixture(scope="session")
def image() -> str:
    result = subprocess.run(
        [str(REPO / "scripts" / "build-image.sh"), IMAGE], capture_output=True, text=True, timeout=1200
    )
    if result.returncode != 0:
        pytest.fail(f"build-image.sh failed:\n{result.stderr[-3000:]}")
    return IMAGE


@pytest.fixture(scope="session")
def postgres_image(image: str) -> str:
    """The same image built with the PostgreSQL driver (WITH_POSTGRES=true)."""
    tag = f"{IMAGE}-pg"
    env = {**os.environ, "WITH_POSTGRES": "true"}
    result = subprocess.run(
        [str(REPO / "scripts" / "build-image.sh"), tag], capture_output=True, text=True, timeout=1200, env=env
    )
    if result.returncode != 0:
        pytest.fail(f"build-image.sh (WITH_POSTGRES=true) failed:\n{result.stderr[-3000:]}")
    return tag


Runner = Callable[..., tuple[str, int]]


@pytest.fixture
def run_container(image: str) -> Iterator[Runner]:
    """Start containers (hardened, published on a free 127.0.0.1 port); all removed afterwards."""
    names: list[str] = []

    def run(*extra: str, volume: str | None = None, name: str | None = None) -> tuple[str, int]:
        name = name or f"{NAME_PREFIX}-{uuid.uuid4().hex[:10]}"
        port = free_port()
        mounts = ["-v", f"{volume}:/app/data"] if volume else []
        docker(
            "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", *HARDENING, *mounts, *extra, image
        )
        names.append(name)
        return name, port

    yield run
    for name in names:
        # -v: also the anonymous volume the image's VOLUME gives a container started without one.
        docker("rm", "-f", "-v", name, check=False)


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"{NAME_PREFIX}-{uuid.uuid4().hex[:10]}"
    docker("volume", "create", name)
    yield name
    # This teardown may run before run_container's: remove the containers still using the volume.
    users = docker("ps", "-aq", "--filter", f"volume={name}", check=False).stdout.split()
    if users:
        docker("rm", "-f", "-v", *users, check=False)
    docker("volume", "rm", "-f", name, check=False)
