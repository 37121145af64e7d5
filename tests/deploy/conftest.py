"""Fixtures for the deploy transaction tests: the host, configured and deployed with v1, and the
items written under v1 that every later step must keep (deploy_helpers.py has the rest)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import hostkit
import pytest
import yaml
from deploy_helpers import (
    APP,
    APP_PORT,
    HOST,
    IMAGES,
    KEEP,
    SECRET,
    SSH_PORT,
    V1,
    Site,
    build_images,
    post,
    wait_healthy,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("deploy")
    build_images(work)
    hostkit.host_up(HOST, SSH_PORT, APP_PORT)
    inventory = work / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                },
                "webapp": {
                    "hosts": {HOST: hostkit.host_vars(SSH_PORT)},
                    "vars": {
                        "app_image": V1,
                        "app_image_source": "archive",
                        "app_image_archive_dir": str(work / "archives"),
                        "app_env": {"SECRET_KEY": SECRET},
                        "app_health_timeout": 20,
                        "app_keep_images": KEEP,
                    },
                },
            }
        )
    )
    the_site = Site(inventory)
    try:
        the_site.play("configure.yml")
        the_site.play("deploy.yml")
        wait_healthy()
        hostkit.authorize(APP, HOST)
        yield the_site
    finally:
        hostkit.host_down(HOST)
        subprocess.run(["docker", "image", "rm", "-f", *IMAGES], check=False, capture_output=True)


@pytest.fixture(scope="module")
def written(site: Site) -> dict[str, str]:
    """Items written under v1; every later step must keep them."""
    return {post(f"v1-{n}"): f"v1-{n}" for n in range(5)}
