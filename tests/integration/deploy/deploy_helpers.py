"""What the host deploy tests use: a Debian 12 systemd container reached over ssh
(scripts/host-container.sh), an inventory for it, the playbooks run against it, and observations
of the host (through the engine: observations, not actions)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import hostkit
from support.hostkit import ROOT, VENV_BIN
from support.playbook import ansible_playbook, flat

SECRET = f"deploy-test-secret-{uuid.uuid4().hex}"
CONTAINER = "webapp"
RELEASES = "/app/releases"


@dataclass
class Host:
    name: str
    ssh_port: int
    app_port: int
    publish: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def up(self) -> None:
        hostkit.host_up(self.name, self.ssh_port, self.app_port, publish=self.publish)

    def down(self) -> None:
        hostkit.host_down(self.name)

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", self.name, *command], capture_output=True, text=True, check=check, timeout=120
        )

    def inspect(self, container: str = CONTAINER) -> dict[str, Any]:
        return json.loads(self.run("docker", "inspect", container).stdout)[0]

    def running_image(self) -> str:
        return self.run("docker", "inspect", "-f", "{{.Image}}", CONTAINER).stdout.strip()

    def release(self, name: str) -> dict[str, Any] | None:
        found = self.run("cat", f"{RELEASES}/{name}.json", check=False)
        return json.loads(found.stdout) if found.returncode == 0 else None

    def status(self) -> dict[str, Any]:
        return json.loads(self.run("/usr/local/sbin/webappctl", "status").stdout)

    def lock_free(self) -> bool:
        status = self.status()
        return status["lock"] == "free" and status["open_transaction"] is None

    def wait_healthy(self, timeout: float = 30) -> float:
        started = time.monotonic()
        hostkit.wait_healthy(self.url, timeout=timeout, interval=0.2, diagnose=self.diagnose)
        return time.monotonic() - started

    def diagnose(self) -> str:
        ps = self.run("docker", "ps", "-a", check=False).stdout
        units = self.run("sh", "-c", "journalctl -u 'webappctl*' --no-pager -n 40", check=False).stdout
        return f"containers:\n{ps}\nwebappctl journal:\n{units}"

    def db_items(self, tmp_path: Path) -> dict[str, str]:
        return hostkit.db_items(self.name, "/app/data/app.db", tmp_path)

    def wait_for(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.run("test", "-e", path, check=False).returncode != 0:
            if time.monotonic() > deadline:
                pytest.fail(f"{path} did not appear on {self.name} within {timeout}s:\n{self.diagnose()}")
            time.sleep(0.2)

    def restart(self) -> None:
        """A reboot: the container (systemd, dockerd, the app's containers) stops and starts."""
        subprocess.run(
            ["docker", "restart", "-t", "5", self.name], check=True, capture_output=True, timeout=120
        )
        subprocess.run(
            [str(ROOT / "scripts" / "host-container.sh"), "wait", self.name, str(self.ssh_port)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip


@dataclass
class Site:
    inventory: Path

    @classmethod
    def write(cls, where: Path, host: Host, **variables: Any) -> Site:
        inventory = where / "hosts.yml"
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        webapp_vars = {
            "app_image_source": "archive",
            "app_env": {"SECRET_KEY": SECRET},
            "app_health_timeout": 20,
            "app_keep_images": 2,
            **variables,
        }
        inventory.write_text(
            yaml.safe_dump(
                {
                    "all": {"hosts": {"localhost": local}},
                    "webapp": {"hosts": {host.name: hostkit.host_vars(host.ssh_port)}, "vars": webapp_vars},
                }
            )
        )
        return cls(inventory)

    def command(self, playbooks: tuple[str, ...], flags: tuple[str, ...], extra: dict[str, Any]) -> list[str]:
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory)]
        cmd += [str(ROOT / "playbooks" / book) for book in playbooks] + list(flags)
        return cmd + (["-e", json.dumps(extra)] if extra else [])

    def play(self, *playbooks: str, flags: tuple[str, ...] = (), check: bool = True, **extra: Any):
        """ansible-playbook PLAYBOOKS [FLAGS] [-e EXTRA]; fails the test unless it succeeds (check=False
        returns the failure to look at). .output is stdout and stderr, whitespace collapsed."""
        proc = ansible_playbook(*self.command(playbooks, flags, extra)[1:])
        proc.output = flat(proc.stdout + proc.stderr)  # type: ignore[attr-defined]
        if check and proc.returncode != 0:
            pytest.fail(
                f"{playbooks} {extra} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-6000:]}"
            )
        return proc

    def start(self, *playbooks: str, **extra: Any) -> subprocess.Popen[str]:
        """The same, in the background (to be killed)."""
        return subprocess.Popen(
            self.command(playbooks, (), extra), cwd=ROOT, env=hostkit.ansible_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the controller: ansible-playbook and everything it started (its ssh connections)."""
    import os

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
