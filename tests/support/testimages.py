"""The test releases of the app, derived from the app image in a few seconds each: two good versions,
one that prints its secret and exits, one that answers but never healthy, one whose schema is one
revision ahead, and one that migrates ahead and then fails. Each also comes on the app image with the
PostgreSQL driver (postgres(tag), for the tests on a shared database). Built once per tag (a file lock
keeps parallel workers from building the same tag at once)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from pathlib import Path

from support import hostkit

BASE = "webapp:local"
# The app image with the PostgreSQL driver (scripts/build-image.sh with WITH_POSTGRES=true)
POSTGRES_BASE = "webapp:test-postgres"
PROXY = hostkit.PROXY_IMAGE
V1, V2 = "webapp:test-v1", "webapp:test-v2"
BROKEN, UNHEALTHY = "webapp:test-broken", "webapp:test-unhealthy"
AHEAD, AHEAD_BROKEN = "webapp:test-ahead", "webapp:test-ahead-broken"

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

RECIPES: dict[str, tuple[str, dict[str, str]]] = {
    V1: (f"FROM {BASE}\nENV APP_VERSION=v1\n", {}),
    V2: (f"FROM {BASE}\nENV APP_VERSION=v2\n", {}),
    BROKEN: (
        f"FROM {BASE}\nENV APP_VERSION=broken\n"
        'ENTRYPOINT ["/bin/sh", "-c", '
        '"echo \\"broken release: refusing to start (SECRET_KEY=$SECRET_KEY)\\" >&2; exit 1"]\n',
        {},
    ),
    # Listens on the app's port but /health answers 404: the gate waits out its timeout.
    UNHEALTHY: (
        f"FROM {BASE}\nENV APP_VERSION=unhealthy\n"
        'ENTRYPOINT ["python3", "-m", "http.server", "8000", "--directory", "/app/app"]\n',
        {},
    ),
    AHEAD: (
        f"FROM {BASE}\nENV APP_VERSION=v3-ahead\n"
        "COPY 0003_ahead.py /app/app/migrations/versions/0003_ahead.py\n",
        {"0003_ahead.py": AHEAD_MIGRATION},
    ),
    AHEAD_BROKEN: (
        f"FROM {AHEAD}\nENV APP_VERSION=ahead-broken\n"
        'ENTRYPOINT ["/bin/sh", "-c", '
        "\"python -m app.migrate && echo 'ahead-broken release: migrated, refusing to start' >&2; "
        'exit 1"]\n',
        {},
    ),
}


def ensure_proxy() -> None:
    """The reverse proxy image (with the app image, built unless the engine has them)."""
    hostkit.ensure_image(BASE)


def postgres(tag: str) -> str:
    """The test release `tag` built on POSTGRES_BASE instead of BASE (ensure() builds it)."""
    return f"{tag}-pg"


_postgres_base_built = False


def ensure(*tags: str) -> None:
    """Build the named test images (and what they derive from) unless the engine has them."""
    global _postgres_base_built
    hostkit.ensure_image(BASE)
    lock_file = hostkit.ROOT / "build" / ".test-images.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _postgres_base_built and any(tag not in RECIPES for tag in tags):
            # Built once per test process, whatever the engine has: the cache makes an unchanged tree
            # cheap, and a tag kept from an older tree would test old code.
            subprocess.run(
                [str(hostkit.ROOT / "scripts" / "build-image.sh"), POSTGRES_BASE], check=True, timeout=900,
                env={**os.environ, "WITH_POSTGRES": "true"},
            )  # fmt: skip
            _postgres_base_built = True
        for tag in tags:
            _build(tag)


def _recipe(tag: str) -> tuple[str, dict[str, str]]:
    if tag in RECIPES:
        return RECIPES[tag]
    plain = tag.removesuffix("-pg")
    if plain == tag or plain not in RECIPES:
        raise KeyError(f"no test image {tag}: known are {sorted(RECIPES)} and their postgres() variants")
    dockerfile, files = RECIPES[plain]
    parent = dockerfile.split()[1]
    on_postgres = POSTGRES_BASE if parent == BASE else postgres(parent)
    return dockerfile.replace(f"FROM {parent}", f"FROM {on_postgres}", 1), files


def _build(tag: str) -> None:
    dockerfile, files = _recipe(tag)
    parent = dockerfile.split()[1]
    if parent not in (BASE, POSTGRES_BASE):
        _build(parent)
    # Rebuilt whenever what it derives from changed (the app image is rebuilt as the code changes).
    base = image_id(parent)
    found = subprocess.run(
        ["docker", "image", "inspect", "-f", '{{index .Config.Labels "webapp.test.base"}}', tag],
        capture_output=True,
        text=True,
    )
    if found.returncode == 0 and found.stdout.strip() == base:
        return
    with tempfile.TemporaryDirectory() as where:
        (Path(where) / "Dockerfile").write_text(f"{dockerfile}LABEL webapp.test.base={base}\n")
        for name, text in files.items():
            (Path(where) / name).write_text(text)
        subprocess.run(["docker", "build", "-q", "-t", tag, where], check=True, capture_output=True)


def image_id(ref: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
