"""The app role's controller-side archive of an image (roles/app/files/save-image-archive.sh): it
appears whole or not at all, and no other run writing beside it can damage it (the tests' parallel
workers and an operator's two terminals share build/images)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import hostkit
from support.hostkit import ROOT

pytestmark = [pytest.mark.docker]
SAVE = ROOT / "roles" / "app" / "files" / "save-image-archive.sh"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """A one-file image made for this module (docker import), removed afterwards."""
    tag = f"webapp-archive-test:{uuid.uuid4().hex[:10]}"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        content = b"archive me\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    subprocess.run(["docker", "import", "-", tag], input=layer.getvalue(), check=True, capture_output=True)
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], check=False, capture_output=True)


def load_report(archive: Path) -> str:
    """What `docker load` reports from the archive (it fails on a damaged one)."""
    return subprocess.run(
        ["docker", "load", "-i", str(archive)], check=True, capture_output=True, text=True
    ).stdout


def save(image: str, archive: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAVE), image, archive.name], cwd=archive.parent, capture_output=True, text=True
    )


def test_a_writer_beside_the_archive_cannot_damage_it(image: str, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar.gz"
    # Another run holding the archive's .part file (the one name every run used to write) keeps writing
    # after this run is done: it must be writing into a file of its own, not into this run's archive.
    other = os.open(tmp_path / "image.tar.gz.part", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        saved = save(image, archive)
        assert saved.returncode == 0, saved.stderr
        os.write(other, b"the other run's bytes" * 64)
    finally:
        os.close(other)
    subprocess.run(["gzip", "-t", str(archive)], check=True)
    assert image in load_report(archive)


def test_a_failed_save_leaves_neither_archive_nor_temporary_file(tmp_path: Path) -> None:
    archive = tmp_path / "missing.tar.gz"
    saved = save(f"webapp-archive-test:absent-{uuid.uuid4().hex[:8]}", archive)
    assert saved.returncode != 0
    assert "reference does not exist" in saved.stderr, saved.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_a_saved_archive_leaves_nothing_else_beside_it(image: str, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar.gz"
    assert save(image, archive).returncode == 0
    assert save(image, archive).returncode == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["image.tar.gz"]
    assert image in load_report(archive)


def test_a_save_killed_midway_leaves_no_archive_and_the_next_run_makes_it(tmp_path: Path) -> None:
    image = "webapp:local"  # the app image: large enough that its save takes seconds
    hostkit.ensure_image(image)
    archive = tmp_path / "image.tar.gz"
    run = subprocess.Popen([str(SAVE), image, archive.name], cwd=tmp_path, start_new_session=True)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("image.tar.gz.part.*")):
        assert run.poll() is None and time.monotonic() < deadline, "the save never started its file"
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not archive.exists(), "a killed save left an archive"
    assert save(image, archive).returncode == 0
    assert image in load_report(archive)
