"""Fixtures for the host deploy tests: each module's host (configured, then deployed with v1 by the
project's playbooks) and the test images."""

from __future__ import annotations

import pytest
from support import testimages as images


@pytest.fixture(scope="session", autouse=True)
def test_images() -> None:
    images.ensure(images.V1, images.V2, images.BROKEN)
    images.ensure_proxy()
