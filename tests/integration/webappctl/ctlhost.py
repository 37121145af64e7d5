"""A "host" for webappctl on this machine: its /app tree in a temporary directory, its config, a
private Docker network and the real proxy image in front, all on the local engine; the program runs
as a subprocess exactly as on a host (in the foreground: this machine has no systemd). The proxy is
published on an ephemeral 127.0.0.1 port the engine picks, so parallel workers never collide.
Each host tags the test images into a repository of its own, so pruning never touches another's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import requests
from ansible.module_utils.parsing.convert_bool import boolean
from support import hostkit, livecopy
from support import testimages as images

PROGRAM = hostkit.ROOT / "roles" / "webappctl" / "files"
SECRET = f"ctl-test-secret-{uuid.uuid4().hex}"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=300)


@dataclass
class Outcome:
    rc: int
    result: dict[str, Any]
    stderr: str

    @property
    def state(self) -> str:
        return str(self.result.get("state"))

    @property
    def message(self) -> str:
        return str(self.result.get("message", ""))


class CtlHost:
    def __init__(self, base: Path, tag: str, hold_seconds: int = 30, **config: Any) -> None:
        self.name = f"wctl-{tag}-{uuid.uuid4().hex[:6]}"
        self.base = base
        self.root = base / "root"
        self.config_dir = base / "etc"
        self.fault_file = base / "fault"
        self.hold_seconds = hold_seconds
        self.extra_config = config
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def up(self) -> CtlHost:
        images.ensure_proxy()
        for sub in ("data", "releases", "backups", "proxy/upstream", "proxy/data"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(self.root / "data", 10001, 10001)
        os.chmod(self.root / "data", 0o750)  # noqa: S103 - as the app role leaves it
        os.chown(self.root / "proxy" / "data", 10002, 10002)
        (self.root / "proxy" / "upstream" / "upstream").write_text("127.0.0.1")
        self.config_dir.mkdir(exist_ok=True)
        self.write_config()
        docker("network", "create", self.name)
        caddyfile = self.base / "Caddyfile"
        caddyfile.write_text(self.render_caddyfile())
        docker(
            "run", "-d", "--name", f"{self.name}-proxy", "--network", self.name, "-p", "127.0.0.1::8080",
            "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--tmpfs", "/tmp",
            "-v", f"{caddyfile}:/etc/caddy/Caddyfile:ro",
            "-v", f"{self.root / 'proxy/upstream'}:/run/webapp:ro",
            "-v", f"{self.root / 'proxy/data'}:/data", "--tmpfs", "/config", images.PROXY,
        )  # fmt: skip
        self.port = int(docker("port", f"{self.name}-proxy", "8080/tcp").stdout.split(":")[-1])
        return self

    def down(self) -> None:
        names = docker("ps", "-aq", "--filter", f"name=^{self.name}", check=False).stdout.split()
        if names:
            docker("rm", "-f", "-v", *names, check=False)
        docker("network", "rm", self.name, check=False)
        tags = docker(
            "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", self.name, check=False
        ).stdout.split()
        if tags:
            docker("image", "rm", *tags, check=False)

    def render_caddyfile(self) -> str:
        template = (hostkit.ROOT / "roles" / "app" / "templates" / "Caddyfile.j2").read_text()
        # The role's template uses Ansible's bool filter, which plain Jinja lacks.
        env = jinja2.Environment(keep_trailing_newline=True, autoescape=False)  # noqa: S701 (a Caddyfile, not HTML)
        env.filters["bool"] = boolean
        return env.from_string(template).render(
            ansible_managed="test",
            app_domain="",
            __app_proxy_domain="",
            app_behind_load_balancer=False,
            app_proxy_tls="acme",
            app_proxy_acme_email="",
            app_proxy_hold_seconds=self.hold_seconds,
            __app_proxy_http_port=8080,
            __app_proxy_upstream_mount="/run/webapp",
            __app_container_port=8000,
        )

    def write_config(self, **changes: Any) -> None:
        root = self.root
        config = {
            "root": str(root),
            "data_dir": str(root / "data"),
            "env_file": str(root / ".env"),
            "releases_dir": str(root / "releases"),
            "backups_dir": str(root / "backups"),
            "repository": self.name,
            "keep_images": 2,
            "network": self.name,
            "health_timeout": 20,
            "container": {
                "name": f"{self.name}-app",
                "stop_timeout": 20,
                "limits": {"memory": "512m", "pids": 256},
            },
            "oneoff": {"memory": "256m", "pids": 64},
            "proxy": {
                "container": f"{self.name}-proxy",
                "upstream_file": str(root / "proxy/upstream/upstream"),
            },
            "lock_wait": 5,
            **self.extra_config,
            **changes,
        }
        (self.config_dir / "app.json").write_text(json.dumps(config))
        (self.config_dir / "backup.json").write_text(json.dumps({"dir": str(root / "backups"), "keep": 3}))

    # --- acting --------------------------------------------------------------------------------------
    def tag(self, image: str) -> str:
        ref = f"{self.name}:{image.rsplit(':', 1)[1]}"
        docker("tag", image, ref)
        return ref

    def settings(self, **extra: str) -> Path:
        path = self.base / "staged.env"
        lines = {
            "SECRET_KEY": SECRET,
            "LOG_LEVEL": "INFO",
            "DATABASE_URL": "sqlite:////app/data/app.db",
            **extra,
        }
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        path.chmod(0o600)
        return path

    def ctl(self, *args: str, fault: str | None = None, timeout: float = 600) -> Outcome:
        if fault:
            self.fault_file.write_text(fault)
        env = {
            **os.environ,
            "WEBAPPCTL_CONFIG_DIR": str(self.config_dir),
            "WEBAPPCTL_FAULT_FILE": str(self.fault_file),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "webappctl", *args],
            cwd=PROGRAM, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        self.fault_file.unlink(missing_ok=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        return Outcome(proc.returncode, json.loads(lines[-1]) if lines else {}, proc.stderr)

    def deploy(self, image: str, *, fault: str | None = None, **settings: str) -> Outcome:
        ref = image if image.startswith(self.name) else self.tag(image)
        outcome = self.ctl(
            "deploy",
            "--image",
            ref,
            "--settings",
            str(self.settings(**settings)),
            "--foreground",
            fault=fault,
        )
        if outcome.state == "committed" and not hostkit.auth_headers(self.url):
            # Writes need a token: one issued in the first release's database lives on in every later one.
            hostkit.authorize(self.url, "", self.app)
        return outcome

    # --- observing -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> str:
        return f"{self.name}-app"

    def running_image(self) -> str:
        return docker("inspect", "-f", "{{.Image}}", self.app).stdout.strip()

    def health(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/health", timeout=35)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_healthy(self, timeout: float = 30) -> float:
        started = time.monotonic()
        hostkit.wait_healthy(self.url, timeout=timeout, interval=0.2, diagnose=self.diagnose)
        return time.monotonic() - started

    def diagnose(self) -> str:
        status = self.ctl("status").result
        logs = docker("logs", "--tail", "20", self.app, check=False)
        return f"status: {json.dumps(status)[:3000]}\napp log: {logs.stdout[-2000:]}{logs.stderr[-2000:]}"

    def status(self) -> dict[str, Any]:
        return self.ctl("status").result

    def lock_free(self) -> bool:
        status = self.status()
        return status.get("lock") == "free" and status.get("open_transaction") is None

    def backup_items(self, path: Path, tmp: Path) -> dict[str, str]:
        """The items in a backup file (a single-file SQLite database), read from a copy."""
        copy = tmp / f"backup-{uuid.uuid4().hex[:6]}.db"
        copy.write_bytes(path.read_bytes())
        return hostkit.items_in(copy)

    def db_items(self, tmp: Path) -> dict[str, str]:
        """The items in the live database file (and its WAL), read from a copy."""
        live = self.root / "data" / "app.db"
        dest = tmp / f"db-{uuid.uuid4().hex[:6]}" / "app.db"
        return hostkit.items_in(livecopy.snapshot(livecopy.local_reader, str(live), dest))
