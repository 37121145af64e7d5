"""A PostgreSQL server in a container (scripts/build-postgres-image.sh: Debian's postgresql-15) on a
Docker network, standing in for RDS: one master user owning one database, password logins from the
network. The tests that share one database between hosts start it where their hosts reach it."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from support.hostkit import ROOT

IMAGE = "webapp-postgres:15"


def ensure_image() -> None:
    subprocess.run([str(ROOT / "scripts" / "build-postgres-image.sh"), IMAGE], check=True, timeout=900)


@dataclass
class PgServer:
    name: str
    network: str
    password: str
    user: str = "webapp"
    database: str = "webapp"

    def start(self, workdir: Path) -> PgServer:
        ensure_image()
        secret = workdir / f"{self.name}.password"
        secret.write_text(self.password)
        secret.chmod(0o644)  # read by the server's own user in the container; a throwaway test value
        subprocess.run(
            [
                "docker", "run", "-d", "--name", self.name, "--network", self.network,
                "-e", f"POSTGRES_USER={self.user}", "-e", f"POSTGRES_DB={self.database}",
                "-e", "POSTGRES_PASSWORD_FILE=/run/pg-password", "-e", "POSTGRES_FSYNC=off",
                "-v", f"{secret}:/run/pg-password:ro", IMAGE,
            ],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.wait()
        return self

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ready = subprocess.run(
                ["docker", "exec", self.name, "pg_isready", "-q", "-h", "127.0.0.1", "-d", self.database],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                logs = subprocess.run(
                    ["docker", "logs", "--tail", "30", self.name], capture_output=True, text=True
                )
                pytest.fail(f"PostgreSQL in {self.name} did not start:\n{logs.stdout}{logs.stderr}")
            time.sleep(0.3)

    def address(self) -> str:
        template = f'{{{{(index .NetworkSettings.Networks "{self.network}").IPAddress}}}}'
        found = subprocess.run(
            ["docker", "inspect", "-f", template, self.name], capture_output=True, text=True, check=True
        )
        return found.stdout.strip()

    def url(self, host: str = "") -> str:
        return (
            f"postgresql+psycopg://{self.user}:{quote(self.password, safe='')}@{host or self.name}:5432/"
            f"{self.database}"
        )

    def sql(self, query: str) -> str:
        """One query through psql in the server's container (as the master user); its rows, |-separated."""
        proc = subprocess.run(
            ["docker", "exec", "-e", f"PGPASSWORD={self.password}", self.name, "psql", "-h", "127.0.0.1",
             "-U", self.user, "-d", self.database, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", query],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if proc.returncode != 0:
            pytest.fail(f"psql in {self.name} failed: {proc.stderr}")
        return proc.stdout.strip()

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", "-v", self.name], capture_output=True, timeout=120)
