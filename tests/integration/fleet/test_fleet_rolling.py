"""A fleet for real: two Debian 12 systemd hosts reached over ssh, a PostgreSQL server in a container
standing in for RDS, and a Caddy container standing in for the ALB's traffic (round robin over the
hosts, health-checking /health); the ALB's API side (the target group each host is taken out of and put
back into around its swap) is moto's server. The tests run in file order on the same hosts, each from
the state the one before left:

1. one host on SQLite, seeded; playbooks/migrate-to-postgres.yml is refused on a database that holds
   anything (nothing changed), then moves the data into an empty one (nothing lost, the write pause
   measured from the run's own report);
2. the second host joins: deploy.yml rolls the fleet onto PostgreSQL;
3. a rolling deploy of a new image under a bounded load through the load balancer: no failed request,
   every acknowledged write in the database afterwards;
4. a broken image, host 2 first in the rollout: host 2 rolled back, the rollout stopped, host 1 never
   touched, still no failed request;
5. rollback.yml under load rolls the fleet back the same way, one host at a time, to the release each
   ran before the new image (the failed deploy of test 4 left host 2's record of it alone).

What does not depend on the step before runs beside it: the setup builds the images while it starts
the hosts, the database and moto; host 2 is configured while test 1 works on host 1 alone; the releases
of tests 3 and 4 are loaded onto both hosts (docker save | docker load) while test 2 runs, so that the
load of tests 3 and 4 runs over the swaps, not over shipping images. Images reach a host through the
role (archive, copy, load) where a fleet differs from one host: host 2 gets them as the second host of
a rollout in test 2; host 1's first release is loaded beforehand (the single-host deploy tests ship it).

Names start with WEBAPP_TEST_PREFIX and ports with WEBAPP_TEST_PORT_BASE (see hostkit)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from support import hostkit
from support import testimages as images
from support.aws import REGION, aws_client, aws_env
from support.hostkit import ROOT
from support.load import Load
from support.moto_server import moto_server
from support.pgserver import PgServer
from support.playbook import ansible_playbook
from support.testimages import image_id

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = f"fleet-test-secret-{uuid.uuid4().hex}"
DB_PASSWORD = f"pg-{uuid.uuid4().hex}"
# The test releases (support.testimages) on the app image with the PostgreSQL driver
V1, V2, BROKEN = map(images.postgres, (images.V1, images.V2, images.BROKEN))
SEEDED = 40


@dataclass
class Host:
    name: str
    ssh_port: int
    app_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", self.name, *command], capture_output=True, text=True, check=check, timeout=120
        )

    def running_image(self) -> str:
        return self.run("docker", "inspect", "-f", "{{.Image}}", "webapp").stdout.strip()

    def release(self, name: str) -> dict[str, Any] | None:
        found = self.run("cat", f"/app/releases/{name}.json", check=False)
        return json.loads(found.stdout) if found.returncode == 0 else None

    def address(self) -> str:
        """Its address on the fleet's network (where the load balancer and the database are)."""
        template = f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}'
        return subprocess.run(
            ["docker", "inspect", "-f", template, self.name], capture_output=True, text=True, check=True
        ).stdout.strip()


# A subnet of its own, away from the 172.16/12 ranges the hosts' inner engines give their own networks (a
# host would route the database's address into its own bridge otherwise).
NETWORK, SUBNET = hostkit.run_name("fleet-net"), "10.213.13.0/24"
A = Host(hostkit.run_name("fleet-a"), hostkit.run_port(2241, 1), hostkit.run_port(18241, 2))
B = Host(hostkit.run_name("fleet-b"), hostkit.run_port(2242, 3), hostkit.run_port(18242, 4))
LB_NAME, LB_PORT = hostkit.run_name("fleet-lb"), hostkit.run_port(18240, 5)
LB = f"http://127.0.0.1:{LB_PORT}"


def build_images() -> None:
    images.ensure(V1, V2, BROKEN)
    images.ensure_proxy()


@dataclass
class TargetGroup:
    """The ALB's side that the rolling deploy drives, in moto's server: a target group holding one
    emulated instance per host. deploy.yml takes each host out of it and puts it back (role alb, tasks
    drain and undrain), as it would on AWS; the local load balancer only stands in for the traffic."""

    endpoint: str
    arn: str
    instances: dict[str, str]

    def states(self) -> dict[str, str]:
        elbv2 = aws_client("elbv2", self.endpoint)
        found = elbv2.describe_target_health(TargetGroupArn=self.arn)["TargetHealthDescriptions"]
        by_id = {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in found}
        return {host: by_id.get(instance, "absent") for host, instance in self.instances.items()}

    def host_vars(self, host: Host) -> dict[str, Any]:
        return {"ec2_instance_provisioned": {"instance_id": self.instances[host.name]}}

    def provisioned(self) -> dict[str, Any]:
        return {
            "target_group_arn": self.arn, "target_port": 8000, "drain_timeout": 60, "healthy_timeout": 60,
            "region": REGION, "endpoint_url": self.endpoint, "targets": list(self.instances.values()),
        }  # fmt: skip


def start_target_group(endpoint: str) -> TargetGroup:
    ec2, elbv2 = aws_client("ec2", endpoint), aws_client("elbv2", endpoint)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    launched = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2)["Instances"]
    arn = elbv2.create_target_group(
        Name="fleet-test",
        Protocol="HTTP",
        Port=8000,
        VpcId=vpc,
        TargetType="instance",
        HealthCheckPath="/health",
    )["TargetGroups"][0]["TargetGroupArn"]
    instances = {host.name: i["InstanceId"] for host, i in zip((A, B), launched, strict=True)}
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": 8000} for i in instances.values()])
    return TargetGroup(endpoint, arn, instances)


@dataclass
class Fleet:
    where: Path
    pg: PgServer
    targets: TargetGroup
    pool: ThreadPoolExecutor
    pending: dict[str, Future] = field(default_factory=dict)

    def meanwhile(self, what: str, work: Callable[..., object], *args: object) -> None:
        """Start `work` beside the tests; ready(what) waits for it (and raises what it raised)."""
        self.pending[what] = self.pool.submit(work, *args)

    def ready(self, what: str) -> None:
        started = self.pending.pop(what, None)
        if started is not None:
            started.result()

    def configure(self, hosts: list[Host], *started: Future) -> None:
        """configure.yml on the hosts once they are up (it does not touch the database)."""
        for host_started in started:
            host_started.result()
        self.play(self.postgres(hosts, "configure-" + "-".join(h.name for h in hosts)), "configure.yml")

    def inventory(self, hosts: list[Host], name: str, behind: bool = False, **variables: Any) -> Path:
        """An inventory of hosts; behind: they sit in the emulated target group, which deploys drain."""
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        webapp = {
            "app_image_source": "archive",
            "app_env": {"SECRET_KEY": SECRET},
            "app_health_timeout": 20,
            "app_keep_images": 2,
            "app_image": V1,
        }
        everyone = {**variables}
        if behind:
            everyone["alb_provisioned"] = self.targets.provisioned()
        path = self.where / f"{name}.yml"
        path.write_text(
            yaml.safe_dump(
                {
                    "all": {"hosts": {"localhost": local}, "vars": everyone},
                    "webapp": {
                        "hosts": {
                            host.name: {
                                **hostkit.host_vars(host.ssh_port),
                                **(self.targets.host_vars(host) if behind else {}),
                            }
                            for host in hosts
                        },
                        "vars": webapp,
                    },
                },
                sort_keys=False,
            )
        )
        return path

    def postgres(self, hosts: list[Host], name: str, database: str = "webapp", behind: bool = False) -> Path:
        return self.inventory(
            hosts, name, behind,
            app_database="postgres",
            app_database_host=self.pg.address(),
            app_database_name=database,
            app_database_password=DB_PASSWORD,
            app_database_sslmode="disable",
            # Several hosts sit behind a load balancer: the Caddy container carries the traffic, the emulated
            # target group is what the deploy drains (behind=True).
            ec2_instance_count=len(hosts),
            alb_enabled=True,
        )  # fmt: skip

    def play(self, inventory: Path, *playbooks: str, check: bool = True, **extra: Any):
        """ansible-playbook with the inventory, moto's credentials and `extra` as variables; .output is
        stdout and stderr, whitespace collapsed."""
        books = [ROOT / "playbooks" / book for book in playbooks]
        proc = ansible_playbook(
            "-i", inventory, *books, *(["-e", json.dumps(extra)] if extra else []), env=aws_env()
        )
        proc.output = " ".join((proc.stdout + proc.stderr).split())  # type: ignore[attr-defined]
        if check and proc.returncode != 0:
            said = (proc.stdout + proc.stderr)[-6000:]
            pytest.fail(f"{playbooks} {extra} failed ({proc.returncode}):\n{said}")
        return proc


def load_releases() -> None:
    """The releases of tests 3 and 4 onto both hosts: their loads run over the rollouts, not over
    shipping images."""
    for host in (A, B):
        hostkit.load_images(host.name, V2, BROKEN)


def start_host(host: Host) -> None:
    """The host up, on the fleet's network (a host kept from an interrupted run is connected already)."""
    hostkit.host_up(host.name, host.ssh_port, host.app_port)
    subprocess.run(["docker", "network", "connect", NETWORK, host.name], capture_output=True)


def start_load_balancer(where: Path) -> None:
    caddyfile = where / "lb.Caddyfile"
    upstreams = " ".join(f"{h.address()}:8000" for h in (A, B))
    caddyfile.write_text(
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f":8080 {{\n\treverse_proxy {upstreams} {{\n"
        "\t\tlb_policy round_robin\n"
        # A dial that fails was never sent: retrying it elsewhere is safe, POSTs included.
        "\t\tlb_try_duration 30s\n\t\tlb_try_interval 100ms\n"
        "\t\thealth_uri /health\n\t\thealth_interval 1s\n\t\thealth_timeout 2s\n"
        "\t}\n}\n"
    )
    caddyfile.chmod(0o644)
    subprocess.run(
        ["docker", "run", "-d", "--name", LB_NAME, "--network", NETWORK, "-p", f"127.0.0.1:{LB_PORT}:8080",
         "-v", f"{caddyfile}:/etc/caddy/Caddyfile:ro", hostkit.PROXY_IMAGE],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def remove(*names: str) -> None:
    subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, timeout=120)


def db_ids(pg: PgServer) -> set[str]:
    rows = pg.sql("SELECT id FROM items")
    return set(rows.split()) if rows else set()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    where = tmp_path_factory.mktemp("fleet")
    pg = PgServer(hostkit.run_name("fleet-pg"), NETWORK, DB_PASSWORD)
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)
    subprocess.run(
        ["docker", "network", "create", "--subnet", SUBNET, NETWORK], check=True, capture_output=True
    )
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=3) as pool:
        # (the pool, left first, waits for what still runs in it; then these, last first)
        stack.callback(subprocess.run, ["docker", "network", "rm", NETWORK], capture_output=True, timeout=60)
        stack.callback(pg.remove)
        stack.callback(remove, LB_NAME)
        for host in (A, B):
            stack.callback(hostkit.host_down, host.name)
        built = pool.submit(build_images)
        started = {host.name: pool.submit(start_host, host) for host in (A, B)}
        endpoint = stack.enter_context(moto_server())
        pg.start(where)
        the_fleet = Fleet(where, pg, start_target_group(endpoint), pool)
        the_fleet.meanwhile("host 2 configured", the_fleet.configure, [B], started[B.name])
        the_fleet.configure([A], started[A.name])
        built.result()
        hostkit.load_images(A.name, V1, hostkit.PROXY_IMAGE)
        yield the_fleet


def held_seconds(output: str) -> float:
    found = re.findall(r"Requests were held for ([0-9.]+)s during the swap", output)
    assert found, output[-3000:]
    return float(found[-1])


def test_one_host_on_sqlite_moves_to_postgres_with_nothing_lost(fleet: Fleet):
    single = fleet.inventory([A], "sqlite")
    fleet.play(single, "deploy.yml")
    hostkit.authorize(A.url, A.name)
    seeded = {hostkit.post_item(A.url, f"seed-{n}", {"n": n}) for n in range(SEEDED)}

    # A target database that holds anything is refused, nothing changed.
    fleet.pg.sql("CREATE DATABASE other")
    subprocess.run(
        ["docker", "exec", "-e", f"PGPASSWORD={DB_PASSWORD}", fleet.pg.name, "psql", "-h", "127.0.0.1",
         "-U", "webapp", "-d", "other", "-qc", "CREATE TABLE stray (id int); INSERT INTO stray VALUES (1);"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    before = A.running_image(), A.run("cat", "/app/.env").stdout
    refused = fleet.play(fleet.postgres([A], "pg-other", "other"), "migrate-to-postgres.yml", check=False)
    assert refused.returncode != 0, refused.output[-3000:]
    assert "the target database is not empty" in refused.output, refused.output[-3000:]
    assert "Nothing was" in refused.output
    assert (A.running_image(), A.run("cat", "/app/.env").stdout) == before
    assert {i["id"] for i in hostkit.served_items(A.url)} >= seeded

    # An empty one gets every row; the write pause is the run's own figure.
    with Load(A.url, writers=2, readers=1) as load:
        moved = fleet.play(fleet.postgres([A], "pg-one"), "migrate-to-postgres.yml")
    pause = held_seconds(moved.output)
    print(f"\nmigrate-to-postgres: write pause {pause:.2f}s; {load.report()}")
    assert not load.failures, load.report()
    assert pause < 20
    in_postgres = db_ids(fleet.pg)
    assert seeded | set(load.acknowledged) <= in_postgres
    assert DB_PASSWORD not in moved.output
    # The SQLite file stays on the data volume.
    assert A.run("test", "-s", "/app/data/app.db", check=False).returncode == 0


def test_the_second_host_joins_on_postgres(fleet: Fleet):
    fleet.ready("host 2 configured")
    fleet.meanwhile("releases loaded", load_releases)
    both = fleet.postgres([A, B], "pg-both", behind=True)
    proc = fleet.play(both, "deploy.yml")
    assert DB_PASSWORD not in proc.output and SECRET not in proc.output
    # Host 2 got the images through the role, as the second host of a rollout.
    shipped = rf"TASK \[app : Load the archive\][ *]*changed: \[{B.name}\]"
    assert re.search(shipped, proc.output), proc.output[-3000:]
    for host in (A, B):
        hostkit.wait_healthy(host.url, timeout=30)
        assert host.running_image() == image_id(V1)
    start_load_balancer(fleet.where)
    hostkit.wait_healthy(LB, timeout=30)
    hostkit.authorize(LB, A.name)
    # One database behind both: a write through one host is read through the other.
    item = hostkit.post_item(A.url, "through-a", {"n": 1})
    assert requests.get(f"{B.url}/api/items/{item}", timeout=10).status_code == 200


def test_a_rolling_deploy_under_load_drops_no_request(fleet: Fleet):
    fleet.ready("releases loaded")
    both = fleet.where / "pg-both.yml"
    started = time.monotonic()
    with Load(LB, writers=2, readers=2) as load:
        proc = fleet.play(both, "deploy.yml", app_image=V2)
    took = time.monotonic() - started
    print(f"\nrolling deploy of 2 hosts: {took:.1f}s; {load.report()}")
    assert not load.failures, load.report()
    assert load.acknowledged, load.report()
    assert set(load.acknowledged) <= db_ids(fleet.pg)
    for host in (A, B):
        assert host.running_image() == image_id(V2)
    # Each host was taken out of the target group and put back, one at a time; both serve again.
    assert proc.output.count("TASK [alb : Take the host out of the load balancer") == 2, proc.output[-3000:]
    assert fleet.targets.states() == {A.name: "healthy", B.name: "healthy"}
    # The schema is migrated once, on the first host, before any host switches.
    assert proc.output.count("Run webappctl on the host: migrate") == 1, proc.output[-3000:]


def test_a_broken_image_on_host_2_is_rolled_back_and_stops_the_rollout(fleet: Fleet):
    # Host 2 first in the rollout: its failure must leave host 1 untouched.
    b_first = fleet.postgres([B, A], "pg-b-first", behind=True)
    untouched = A.running_image(), A.release("current")
    with Load(LB, writers=2, readers=2) as load:
        proc = fleet.play(b_first, "deploy.yml", check=False, app_image=BROKEN)
    print(f"\nbroken image on host 2: {load.report()}")
    assert proc.returncode != 0, proc.output[-3000:]
    assert f"Undone: the release that ran before, {V2} (" in proc.output, proc.output[-4000:]
    # The broken release printed its SECRET_KEY; the run shows its last log lines redacted.
    assert SECRET not in proc.output and DB_PASSWORD not in proc.output
    assert not load.failures, load.report()
    assert set(load.acknowledged) <= db_ids(fleet.pg)
    hostkit.wait_healthy(B.url, timeout=30)
    assert B.running_image() == image_id(V2)
    assert (A.running_image(), A.release("current")) == untouched
    # Host 2 is back in the target group, serving the release it ran.
    assert fleet.targets.states() == {A.name: "healthy", B.name: "healthy"}
    # The rollout stopped at host 2: no task of the deploy play ran on host 1.
    deploy = proc.output.split("PLAY [Deploy the app, one host at a time]", 1)[1]
    assert f"[{A.name}]" not in deploy, deploy[-3000:]


def test_rollback_rolls_the_fleet_back_one_host_at_a_time(fleet: Fleet):
    both = fleet.where / "pg-both.yml"
    with Load(LB, writers=2, readers=2) as load:
        proc = fleet.play(both, "rollback.yml")
    print(f"\nrolling rollback of 2 hosts: {load.report()}")
    assert not load.failures, load.report()
    assert load.acknowledged, load.report()
    assert set(load.acknowledged) <= db_ids(fleet.pg)
    for host in (A, B):
        assert host.running_image() == image_id(V1), host.name
    assert proc.output.count("TASK [alb : Take the host out of the load balancer") == 2, proc.output[-3000:]
    # One host at a time (serial 1): a batch each, host 1 out, swapped and back in before host 2 began.
    batches = proc.output.split("PLAY [Roll the app back to the previous release]")[1:]
    assert len(batches) == 2, proc.output[-3000:]
    for batch, (this, other) in zip(batches, ((A, B), (B, A)), strict=True):
        assert f"[{this.name}]" in batch and f"[{other.name}]" not in batch, batch[-3000:]
        assert "TASK [alb : Put the host back into the load balancer" in batch, batch[-3000:]
    assert fleet.targets.states() == {A.name: "healthy", B.name: "healthy"}
    assert SECRET not in proc.output and DB_PASSWORD not in proc.output
