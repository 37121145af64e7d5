"""Fixtures for the webappctl tests: a local "host" per test module (ctlhost.py), with the test
releases tagged into its own repository."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ctlhost import CtlHost
from support import testimages as images
from support.moto_server import moto_server


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
    with moto_server() as endpoint:
        yield endpoint
