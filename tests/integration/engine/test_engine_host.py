"""The docker role on a host that already serves the app, in three phases on one host (each a
module-scoped fixture that acts once; the tests read what it saw):

1. adoption: a host configured and deployed under the engine settings of before (no live restore,
   icc on, no default no-new-privileges, userland proxy on) runs configure.yml with the role's
   defaults while the app is probed from the controller and from the host itself: no failed
   request, the same container run, the hardened engine;
2. CloudWatch Logs: with docker_log_driver awslogs, configure.yml creates the log group (retention)
   on moto's server on the controller's 127.0.0.1 and the engine sends container logs there (the
   host reaches the emulator on its own 127.0.0.1 through an ssh reverse tunnel), keeps a local copy,
   and starts containers while CloudWatch is unreachable;
3. user namespaces: switching remapping on is refused while containers exist; once on, container
   root is an unprivileged host uid, and the app's data works only when it belongs to the remapped
   uid (300000 + 10001), which is why the app and backup roles do not turn it on yet."""

from __future__ import annotations

import json
import re
import subprocess
import time

import boto3
import pytest
import requests
from engine_helpers import (
    APP,
    APP_PORT,
    HOST,
    IMAGE,
    SSH_PORT,
    ControllerProbe,
    HostProbe,
    daemon_json,
    docker_info,
    engine_pid,
    inspect,
    load_image,
    on_host,
    outcome,
    reverse_tunnel,
    write_inventory,
)
from support import hostkit
from support.aws import REGION, aws_env
from support.moto_server import moto_server
from support.playbook import Site

pytestmark = [pytest.mark.docker, pytest.mark.slow]

OLD_ENGINE = {
    "docker_live_restore": False,
    "docker_icc": True,
    "docker_no_new_privileges": False,
    "docker_userland_proxy": True,
}
HARDENED = {"live-restore": True, "icc": False, "no-new-privileges": True, "userland-proxy": False}
LOG_GROUP = "/webapp/engine-test/containers"
AWS_ENV = aws_env()
# The engine's credentials for the emulator; on EC2 they come from the instance role.
ENGINE_AWS_DROPIN = "/etc/systemd/system/docker.service.d/engine-test-aws.conf"
REMAP_START = 300000
MAPPED_APP_UID = REMAP_START + 10001
# The options roles/app/tasks/container.yml runs the app with, and those of the dbtool one-off run
# (__app_oneoff_run in roles/app/vars/main.yml)
APP_RUN = [
    "--user=10001:10001", "--read-only", "--tmpfs=/tmp", "--security-opt=no-new-privileges", "--cap-drop=ALL",
    "--env-file=/app/.env", "--volume=/app/data:/app/data", "--publish=8000:8000",
]  # fmt: skip
DBTOOL_RUN = [
    "--rm", "--network=none", "--user=10001:10001", "--read-only", "--tmpfs=/tmp", "--cap-drop=ALL",
    "--security-opt=no-new-privileges", "--env=DATABASE_URL=sqlite:////app/data/app.db",
    "--entrypoint=python",
]  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    hostkit.ensure_image(IMAGE)
    hostkit.host_down(HOST)
    try:
        hostkit.host_up(HOST, SSH_PORT, APP_PORT)
        inventory = write_inventory(
            tmp_path_factory.mktemp("engine") / "hosts.yml", {"app_health_timeout": 90}
        )
        the_site = Site(inventory)
        the_site.play("configure.yml", **OLD_ENGINE)
        the_site.play("deploy.yml")
        hostkit.wait_healthy(APP, timeout=90)
        yield the_site
    finally:
        hostkit.host_down(HOST)


# --- 1. adoption ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def old_engine(site: Site) -> dict:
    """The engine as the old settings left it, seen before the adoption."""
    return {
        "info": docker_info(),
        "proxies": on_host("pgrep", "-x", "docker-proxy", check=False).stdout.split(),
    }


@pytest.fixture(scope="module")
def adopted(site: Site, old_engine: dict) -> dict:
    before = {"pid": engine_pid(), "started": inspect()["State"]["StartedAt"]}
    with ControllerProbe() as outside, HostProbe() as inside:
        run = site.play("configure.yml", "-v")
    return {
        "run": run,
        "before": before,
        "outside": outside,
        "inside": inside.seen,
        "pid": engine_pid(),
        "container": inspect()["State"],
    }


def test_the_old_engine_had_no_live_restore_and_a_userland_proxy(old_engine):
    assert old_engine["info"]["LiveRestoreEnabled"] is False
    assert old_engine["proxies"], "no docker-proxy: the old settings were not in force"


def test_adoption_reloads_then_restarts_the_engine_once(adopted):
    output = adopted["run"].stdout
    for task in ("Reload the engine with the new live-restore setting first", "Restart the engine, holding"):
        assert f"TASK [docker : {task}" in output
    assert re.search(r'"held":\s+\["0\.0\.0\.0:8000"\]', output), output[-3000:]
    assert adopted["pid"] != adopted["before"]["pid"]


def test_adoption_keeps_the_same_container_running(adopted):
    assert adopted["container"]["Running"] is True
    assert adopted["container"]["StartedAt"] == adopted["before"]["started"]


def test_adoption_fails_no_request(adopted):
    outside, inside = adopted["outside"], adopted["inside"]
    assert outside.ok > 0 and inside["ok"] > 0
    assert not outside.failed, outside.failed[:5]
    assert not inside["failed"], inside["failed"][:5]


def test_adopted_engine_is_hardened(adopted):
    config = daemon_json()
    assert {key: config.get(key) for key in HARDENED} == HARDENED
    assert docker_info()["LiveRestoreEnabled"] is True
    assert on_host("pgrep", "-x", "docker-proxy", check=False).returncode == 1


def test_icc_waits_for_an_engine_start_without_running_containers(adopted):
    # A live-restored engine keeps its default bridge as it was while containers run; the role says so.
    assert bridge_icc() == "true"
    assert "icc changed while containers were running" in adopted["run"].stdout


@pytest.fixture(scope="module")
def rebooted(adopted: dict) -> dict:
    """The host restarted after the adoption, as its next reboot would."""
    subprocess.run(["docker", "restart", HOST], check=True, capture_output=True, timeout=120)
    subprocess.run([str(hostkit.HOST_SCRIPT), "wait", HOST, str(SSH_PORT)], check=True, timeout=180)
    hostkit.wait_healthy(APP, timeout=90)
    return {"icc": bridge_icc(), "running": inspect()["State"]["Running"]}


def test_the_next_boot_completes_the_adoption(rebooted):
    assert rebooted == {"icc": "false", "running": True}


def bridge_icc() -> str:
    options = on_host("docker", "network", "inspect", "bridge", "--format", "{{json .Options}}").stdout
    return json.loads(options)["com.docker.network.bridge.enable_icc"]


# --- 2. CloudWatch Logs ---------------------------------------------------------------------------


def log_events(port: int, stream: str, timeout: float = 60) -> list[str]:
    """The messages of a stream, once it has any (the engine flushes every 5 s)."""
    logs = boto3.client(
        "logs", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION, **_boto_credentials()
    )
    deadline = time.monotonic() + timeout
    while True:
        streams = logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]
        if any(found["logStreamName"] == stream for found in streams):
            events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream)["events"]
            if events:
                return [event["message"] for event in events]
        if time.monotonic() > deadline:
            names = [found["logStreamName"] for found in streams]
            pytest.fail(f"no events in {LOG_GROUP} {stream} within {timeout}s; streams: {names}")
        time.sleep(1)


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture(scope="module")
def cloudwatch(rebooted: dict, site: Site) -> dict:
    seen: dict = {}
    with moto_server() as endpoint, reverse_tunnel(endpoint):
        port = int(endpoint.rsplit(":", 1)[1])
        dropin = "[Service]\nEnvironment=AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing\n"
        on_host("install", "-d", ENGINE_AWS_DROPIN.rsplit("/", 1)[0])
        on_host("sh", "-c", f"cat > {ENGINE_AWS_DROPIN}", stdin=dropin.encode())
        on_host("systemctl", "daemon-reload")
        settings = {
            "docker_log_driver": "awslogs",
            "docker_awslogs_group": LOG_GROUP,
            "docker_awslogs_region": REGION,
            "docker_awslogs_endpoint_url": endpoint,
            "docker_awslogs_retention_days": 7,
        }
        site.play("configure.yml", env=AWS_ENV, **settings)
        seen["daemon_json"] = daemon_json()
        seen["driver"] = docker_info()["LoggingDriver"]
        seen["app_driver"] = inspect()["HostConfig"]["LogConfig"]["Type"]
        logs = boto3.client("logs", endpoint_url=endpoint, region_name=REGION, **_boto_credentials())
        seen["groups"] = logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
        on_host(
            "docker",
            "run",
            "--name=engine-logtest",
            "--entrypoint=python3",
            IMAGE,
            "-c",
            "print('to-cloudwatch')",
        )
        short_id = inspect("engine-logtest")["Id"][:12]
        seen["stream"] = f"{HOST}/engine-logtest/{short_id}"
        seen["events"] = log_events(port, seen["stream"])
        seen["local"] = on_host("docker", "logs", "engine-logtest").stdout
        # CloudWatch out of reach (nothing listens on port 9): the container still starts and logs locally.
        offline = on_host(
            "docker", "run", "--name=engine-offline", "--log-opt=awslogs-endpoint=http://127.0.0.1:9",
            "--entrypoint=python3", IMAGE, "-c", "print('while-offline')", check=False,
        )  # fmt: skip
        seen["offline"] = (offline.returncode, on_host("docker", "logs", "engine-offline").stdout)
        on_host("docker", "rm", "engine-logtest", "engine-offline")
    return seen


def test_log_group_is_created_with_its_retention(cloudwatch):
    assert [(group["logGroupName"], group.get("retentionInDays")) for group in cloudwatch["groups"]] == [
        (LOG_GROUP, 7)
    ]


def test_daemon_sends_logs_to_cloudwatch_and_keeps_a_local_copy(cloudwatch):
    config = cloudwatch["daemon_json"]
    assert config["log-driver"] == "awslogs"
    assert config["log-opts"] == {
        "awslogs-region": REGION,
        "awslogs-group": LOG_GROUP,
        "awslogs-endpoint": config["log-opts"]["awslogs-endpoint"],
        "tag": f"{HOST}/{{{{.Name}}}}/{{{{.ID}}}}",
        "mode": "non-blocking",
        "max-buffer-size": "4m",
        "cache-max-size": "10m",
        "cache-max-file": "5",
    }
    assert {key: config.get(key) for key in HARDENED} == HARDENED
    assert cloudwatch["driver"] == "awslogs"


def test_container_logs_reach_cloudwatch(cloudwatch):
    assert cloudwatch["events"] == ["to-cloudwatch"]
    assert cloudwatch["local"] == "to-cloudwatch\n"


def test_containers_start_while_cloudwatch_is_unreachable(cloudwatch):
    assert cloudwatch["offline"] == (0, "while-offline\n")


def test_containers_created_before_keep_their_log_driver(cloudwatch):
    # The engine's default applies to containers it creates: the app moves over at its next release.
    assert cloudwatch["app_driver"] == "json-file"


# --- 3. user namespaces ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def remap_refused(site: Site, cloudwatch: dict) -> dict:
    before = daemon_json()
    run = site.play("configure.yml", check=False, docker_userns_remap=True)
    return {
        "run": run,
        "before": before,
        "after": daemon_json(),
        "subuid": on_host("cat", "/etc/subuid").stdout,
        "containers": len(on_host("docker", "ps", "-aq").stdout.split()),
        "health": requests.get(f"{APP}/health", timeout=10).status_code,
    }


@pytest.fixture(scope="module")
def remapped(site: Site, remap_refused: dict) -> dict:
    on_host("sh", "-c", "docker rm -f $(docker ps -aq)")
    site.play("configure.yml", docker_userns_remap=True)
    seen = {"info": docker_info(), "images": on_host("docker", "images", "-q").stdout.split()}
    seen["subids"] = on_host("grep", "-h", "^dockremap:", "/etc/subuid", "/etc/subgid").stdout.split()
    load_image()
    # The host container masks parts of /proc and /sys, as Docker does for any container; the kernel lets
    # a new user namespace mount proc and sysfs only where a full view of them is mounted, as on a real host.
    on_host("sh", "-c", "mkdir -p /run/full-proc /run/full-sys && mount -t proc proc /run/full-proc "
            "&& mount -t sysfs sysfs /run/full-sys")  # fmt: skip
    on_host("install", "-d", "-m", "0777", "/run/engine-test-root")
    as_root = ["--rm", "--user=0:0", "--volume=/run/engine-test-root:/probe", "--entrypoint=touch"]
    on_host("docker", "run", *as_root, IMAGE, "/probe/by-container-root")
    seen["root_file"] = on_host("stat", "-c", "%u", "/run/engine-test-root/by-container-root").stdout.strip()
    return seen


def backup_into(staging: str, owner: str) -> tuple[int, str]:
    """The app's dbtool backup, run as the roles run it, into a staging dir owned by `owner`."""
    on_host("install", "-d", "-m", "0700", "-o", owner, "-g", owner, staging)
    volumes = ["--volume=/app/data:/app/data", f"--volume={staging}:/backups"]
    backup = ["-m", "app.dbtool", "backup", "/backups/engine-test.db"]
    run = on_host("docker", "run", *DBTOOL_RUN, *volumes, IMAGE, *backup, check=False)
    owner_seen = on_host("stat", "-c", "%u", f"{staging}/engine-test.db", check=False).stdout.strip()
    return run.returncode, owner_seen


@pytest.fixture(scope="module")
def remap_outcome(remapped: dict) -> dict:
    seen = {"layout": on_host("stat", "-c", "%u:%g %a", "/app/data").stdout.strip()}
    # The data as the app role leaves it (owned by 10001 on the host)
    on_host("docker", "run", "--detach", "--name=webapp", *APP_RUN, IMAGE)
    seen["as_left"] = outcome()
    seen["backup_as_left"] = backup_into("/app/backups/engine-test-as-left", "10001")
    on_host("docker", "rm", "-f", "webapp")
    # The same data given to the remapped uid
    on_host("chown", "-R", f"{MAPPED_APP_UID}:{MAPPED_APP_UID}", "/app/data")
    on_host("docker", "run", "--detach", "--name=webapp", *APP_RUN, IMAGE)
    seen["mapped"] = outcome()
    seen["backup_mapped"] = backup_into("/app/backups/engine-test-mapped", str(MAPPED_APP_UID))
    return seen


def test_switching_remap_on_is_refused_while_containers_exist(remap_refused):
    run = remap_refused["run"]
    assert run.returncode != 0
    # The deployed app and its proxy
    assert remap_refused["containers"] == 2
    assert "docker_userns_remap would change while the engine holds 2 container(s)" in run.stdout
    assert remap_refused["after"] == remap_refused["before"]
    assert "dockremap" not in remap_refused["subuid"]
    assert remap_refused["health"] == 200


def test_remapped_engine_runs_container_root_as_an_unprivileged_host_uid(remapped):
    assert "name=userns" in remapped["info"]["SecurityOptions"]
    assert remapped["info"]["DockerRootDir"] == f"/var/lib/docker/{REMAP_START}.{REMAP_START}"
    assert remapped["subids"] == [f"dockremap:{REMAP_START}:65536"] * 2
    assert remapped["root_file"] == str(REMAP_START)


def test_remapped_engine_no_longer_sees_the_images_it_had(remapped):
    assert remapped["images"] == []


def test_app_cannot_use_its_data_as_the_roles_leave_it(remap_outcome):
    assert remap_outcome["layout"] == "10001:10001 750"
    # The migration at start cannot open the database: container uid 10001 is host uid 310001 now, which
    # may not even enter /app/data (the app reports it as "cannot be opened", or fails on the path).
    state, code, last_line = remap_outcome["as_left"]
    assert (state, code) == ("exited", 1), remap_outcome["as_left"]
    assert "the database file cannot be opened" in last_line or (
        "Permission denied" in last_line and "/app/data/app.db" in last_line
    ), last_line
    assert remap_outcome["backup_as_left"][0] != 0


def test_app_and_backups_work_once_the_data_belongs_to_the_remapped_uid(remap_outcome):
    assert remap_outcome["mapped"] == ("answered", 200, "ok")
    assert remap_outcome["backup_mapped"] == (0, str(MAPPED_APP_UID))
