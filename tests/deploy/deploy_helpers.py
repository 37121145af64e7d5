"""What the deploy transaction tests use to act on and observe their host: the host container
webapp-deploy-test (ssh 127.0.0.1:2228, the app on 127.0.0.1:18088), the playbooks run against it,
the test images, the release records and the app's data.

Images, built by the `site` fixture (conftest.py): webapp:test-v1 and webapp:test-v2
(scripts/build-image.sh with VERSION), a broken release whose entrypoint prints the secret and exits
1, an "ahead" release whose Alembic has one more revision than v1/v2 know, and an "ahead-broken"
release that applies that migration and then exits 1."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import hostkit
import pytest
from hostkit import ROOT, VENV_BIN

HOST = "webapp-deploy-test"
SSH_PORT = 2228
APP_PORT = 18088
APP = f"http://127.0.0.1:{APP_PORT}"
SECRET = f"deploy-test-secret-{uuid.uuid4().hex}"  # 32 bytes or more: it signs API tokens
CONTAINER = "webapp"
RELEASES = "/app/releases"
LOCK = f"{RELEASES}/.deploy.lock"
KEEP = 2
V1, V2, BROKEN, AHEAD = "webapp:test-v1", "webapp:test-v2", "webapp:test-broken", "webapp:test-ahead"
AHEAD_BROKEN = "webapp:test-ahead-broken"
IMAGES = [V1, V2, BROKEN, AHEAD, AHEAD_BROKEN]

BROKEN_DOCKERFILE = f"""FROM {V2}
ENV APP_VERSION=broken
ENTRYPOINT ["/bin/sh", "-c", \\
  "echo \\"broken release: refusing to start (SECRET_KEY=$SECRET_KEY)\\" >&2; exit 1"]
"""
AHEAD_DOCKERFILE = f"""FROM {V2}
ENV APP_VERSION=v3-ahead
COPY 0003_ahead.py /app/app/migrations/versions/0003_ahead.py
"""
AHEAD_MIGRATION = '''"""A table the earlier releases do not know.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("ahead_notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("ahead_notes")
'''
# Migrates the database to 0003 (as the real entrypoint does first), then fails to start.
AHEAD_BROKEN_DOCKERFILE = f"""FROM {AHEAD}
ENV APP_VERSION=ahead-broken
ENTRYPOINT ["/bin/sh", "-c", \\
  "python -m app.migrate && echo 'ahead-broken release: migrated, refusing to start' >&2; exit 1"]
"""


# --- the host and the controller ------------------------------------------------------------------


def on_host(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command on the test host (through the engine: these are observations, not actions)."""
    return subprocess.run(["docker", "exec", HOST, *command], capture_output=True, text=True, check=check)


def host_file(path: str) -> bytes:
    return subprocess.run(["docker", "exec", HOST, "cat", path], capture_output=True, check=True).stdout


def put_host_file(path: str, content: bytes) -> None:
    subprocess.run(["docker", "exec", "-i", HOST, "sh", "-c", f"cat > {path}"], input=content, check=True)


def image_id(ref: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True, check=True
    ).stdout.strip()


def running_image() -> str:
    return on_host("docker", "inspect", "-f", "{{.Image}}", CONTAINER).stdout.strip()


def started_at() -> str:
    return on_host("docker", "inspect", "-f", "{{.State.StartedAt}}", CONTAINER).stdout


def release(name: str) -> dict | None:
    found = on_host("cat", f"{RELEASES}/{name}.json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def records() -> dict[str, dict | None]:
    return {name: release(name) for name in ("current", "previous")}


def wait_healthy(timeout: float = 60) -> None:
    hostkit.wait_healthy(APP, timeout=timeout, interval=0.3)


def build(tag: str, dockerfile: str, files: dict[str, str], where: Path) -> None:
    where.mkdir()
    (where / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (where / name).write_text(text)
    subprocess.run(["docker", "build", "-q", "-t", tag, str(where)], check=True, capture_output=True)


def build_images(work: Path) -> None:
    for tag, version in ((V1, "v1"), (V2, "v2")):
        subprocess.run(
            [str(ROOT / "scripts" / "build-image.sh"), tag], env={**os.environ, "VERSION": version},
            check=True, timeout=900, capture_output=True,
        )  # fmt: skip
    build(BROKEN, BROKEN_DOCKERFILE, {}, work / "broken")
    build(AHEAD, AHEAD_DOCKERFILE, {"0003_ahead.py": AHEAD_MIGRATION}, work / "ahead")
    build(AHEAD_BROKEN, AHEAD_BROKEN_DOCKERFILE, {}, work / "ahead-broken")


@dataclass
class Site:
    inventory: Path

    def play(
        self, playbook: str, *flags: str, check: bool = True, **extra: object
    ) -> subprocess.CompletedProcess[str]:
        """ansible-playbook PLAYBOOK [FLAGS] [-e EXTRA as JSON]; fails the test unless it succeeds
        (check=False returns the failure to look at). .output is stdout and stderr."""
        playbook_path = ROOT / "playbooks" / playbook
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook_path), *flags]
        if extra:
            cmd += ["-e", json.dumps(extra)]
        proc = subprocess.run(
            cmd, cwd=ROOT, env=hostkit.ansible_env(), capture_output=True, text=True, timeout=600, check=False
        )
        proc.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
        if check and proc.returncode != 0:
            pytest.fail(f"{playbook} {extra} failed ({proc.returncode}):\n{proc.output[-6000:]}")
        return proc


# --- the data -------------------------------------------------------------------------------------


def post(name: str, data: dict | None = None) -> str:
    return hostkit.post_item(APP, name, data or {"by": "deploy-test"})


def served() -> dict[str, str]:
    """Every item the app serves, id -> name."""
    return {item["id"]: item["name"] for item in hostkit.served_items(APP)}


def db_items(path: str, tmp_path: Path) -> dict[str, str]:
    """The items inside a database file on the host (with its -wal, if any), id -> name."""
    return hostkit.db_items(HOST, path, tmp_path)


def db_revision(path: str, tmp_path: Path) -> str:
    """The Alembic revision of a database file on the host (with its -wal), read from a copy."""
    with sqlite3.connect(hostkit.db_copy(HOST, path, tmp_path / "revision")) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def assert_items_kept(expected: dict[str, str]) -> None:
    now = served()
    missing = {key: name for key, name in expected.items() if now.get(key) != name}
    assert not missing, f"items lost: {missing}"
