from __future__ import annotations

import json
import shlex
import threading
import time
import urllib.error
import urllib.request

from conftest import app_url, inspect, journal

# The CIS Docker Benchmark section 2 settings the docker role gives the engine
HARDENING = {"live-restore": True, "icc": False, "no-new-privileges": True, "userland-proxy": False}

# Runs on the host: GETs /health on 127.0.0.1:8000 (the host's own path, as the deploy's health gate)
# before, during and after a held engine restart; prints what it saw and what the restart said.
HOST_PROBE = """
import json, subprocess, threading, time, urllib.request
seen = {"ok": 0, "failed": []}
stop = threading.Event()
def probe():
    while not stop.is_set():
        try:
            with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=10) as response:
                response.read()
                seen["ok"] += 1
        except Exception as error:
            seen["failed"].append(repr(error))
def served(count, seconds):
    deadline = time.monotonic() + seconds
    while seen["ok"] < count and time.monotonic() < deadline:
        time.sleep(0.01)
thread = threading.Thread(target=probe)
thread.start()
served(20, 30)
before = seen["ok"]
restart = subprocess.run(["/usr/local/sbin/docker-restart-held"], capture_output=True, text=True)
served(seen["ok"] + 20, 30)
stop.set()
thread.join()
seen.update(before=before, rc=restart.returncode, out=restart.stdout, err=restart.stderr)
print(json.dumps(seen))
"""


class Probe:
    """GETs /health through the port published on the controller's 127.0.0.1 until stopped."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(app_url("/health"), timeout=10) as response:  # noqa: S310
                    response.read()
                    self.ok += 1
            except (OSError, urllib.error.URLError) as error:
                self.failed.append(repr(error))

    def served(self, count: int, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while self.ok < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> Probe:
        self._thread.start()
        self.served(20)
        return self

    def __exit__(self, *_: object) -> None:
        self.served(self.ok + 20)
        self._stop.set()
        self._thread.join()


def docker_info(host) -> dict:
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def app_image(host) -> str:
    return inspect(host)["Image"]


def test_docker_is_enabled_at_boot(host):
    assert host.service("docker").is_enabled, journal(host, "docker")


def test_docker_is_running(host):
    assert host.service("docker").is_running, journal(host, "docker")


def test_daemon_json_hardens_the_engine_and_rotates_container_logs(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-driver"] == "json-file"
    assert set(config["log-opts"]) == {"max-size", "max-file"}
    assert {key: config.get(key) for key in HARDENING} == HARDENING


def test_engine_runs_with_live_restore_and_json_file_logs(host):
    info = docker_info(host)
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"


def test_published_ports_need_no_userland_proxy(host):
    # CIS 2.16: NAT rules alone publish the port; the host's own requests (the deploy's health gate)
    # still reach the app on 127.0.0.1, and the controller through its published port.
    assert host.run("pgrep -x docker-proxy").rc == 1, host.check_output("pgrep -a docker-proxy")
    fetch = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5)"
    fetched = host.run(f"python3 -c {shlex.quote(fetch)}")
    assert fetched.rc == 0, fetched.stderr
    with urllib.request.urlopen(app_url("/health"), timeout=5) as response:  # noqa: S310 - 127.0.0.1
        assert response.status == 200


def test_containers_on_the_default_bridge_cannot_reach_each_other(host):
    # CIS 2.2: the host reaches a container's address on the bridge; another container there does not.
    # The app is not there at all: it lives on the private network it shares with the proxy alone.
    bridge = json.loads(host.check_output("docker network inspect bridge"))[0]
    assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert "bridge" not in inspect(host)["NetworkSettings"]["Networks"]
    name = "molecule-icc-server"
    host.run(f"docker rm -f {name}")
    serve = f"docker run -d --name {name} --network bridge --entrypoint python3 {app_image(host)}"
    host.check_output(f"{serve} -m http.server 8000")
    try:
        address = json.loads(host.check_output(f"docker inspect {name}"))[0]["NetworkSettings"]["IPAddress"]
        connect = f"import socket; socket.create_connection(('{address}', 8000), timeout=3).close()"
        reached = host.run(f"python3 -c {shlex.quote(connect)}")
        for _ in range(20):  # the server needs a moment to listen
            if reached.rc == 0:
                break
            time.sleep(0.5)
            reached = host.run(f"python3 -c {shlex.quote(connect)}")
        assert reached.rc == 0, reached.stderr
        client = f"docker run --rm --network bridge --entrypoint python3 {app_image(host)}"
        from_container = host.run(f"{client} -c {shlex.quote(connect)}")
        assert from_container.rc != 0
        assert "timed out" in from_container.stderr
    finally:
        host.run(f"docker rm -f {name}")


def test_containers_get_no_new_privileges_without_asking(host):
    # CIS 2.14: a container started without --security-opt no-new-privileges still has it.
    status = host.check_output(f"docker run --rm --entrypoint cat {app_image(host)} /proc/self/status")
    assert "NoNewPrivs:\t1" in status.splitlines()


def test_engine_restart_keeps_the_app_serving(host):
    # CIS 2.15: with live restore the container keeps running; docker-restart-held makes new connections
    # wait instead of being refused while the engine puts its NAT rules back.
    engine_pid = host.check_output("systemctl show --property MainPID --value docker")
    started = inspect(host)["State"]["StartedAt"]
    with Probe() as outside:
        seen = json.loads(host.check_output(f"python3 -c {shlex.quote(HOST_PROBE)}"))
    assert seen["rc"] == 0, seen["err"]
    assert json.loads(seen["out"])["held"] == ["0.0.0.0:8000"]
    assert host.check_output("systemctl show --property MainPID --value docker") != engine_pid
    assert inspect(host)["State"]["StartedAt"] == started
    assert seen["before"] >= 20 and seen["ok"] >= seen["before"] + 20
    assert not seen["failed"], seen["failed"][:5]
    assert outside.ok >= 40
    assert not outside.failed, outside.failed[:5]


def test_python_docker_sdk_is_installed(host):
    assert host.run("python3 -c 'import docker'").rc == 0


def test_logrotate_configs_are_valid(host):
    assert host.file("/etc/logrotate.d/webapp").contains("/app/logs/")
    result = host.run("logrotate -d /etc/logrotate.conf")
    assert result.rc == 0, result.stderr
