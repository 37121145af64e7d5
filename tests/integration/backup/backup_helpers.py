"""Helpers for the backup role tests: their playbooks, an instance on the emulator, and a deployed host
to back up and restore (a support.playbook.Site)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from support import hostkit
from support.aws import aws_env
from support.playbook import Site

HERE = Path(__file__).resolve().parent


def moto_instance(ec2: object, zone: str) -> str:
    """An instance in `zone` on the emulator (an Amazon-owned image); its id."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    found = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.small", Placement={"AvailabilityZone": zone}
    )
    return found["Instances"][0]["InstanceId"]


@contextmanager
def deployed_site(
    host: str,
    ssh_port: int,
    app_port: int,
    endpoint: str,
    workdir: Path,
    group_vars: dict[str, object],
    device_rule: str = "",
) -> Iterator[Site]:
    """A host container configured and deployed with the project's playbooks (image webapp:local),
    its backup role pointed at the AWS emulator; removed afterwards whatever happened."""
    hostkit.ensure_image("webapp:local")
    hostkit.host_up(host, ssh_port, app_port, device_rule=device_rule)
    inventory = workdir / "hosts.yml"
    base = {
        "app_image": "webapp:local",
        "app_image_source": "archive",
        "app_health_timeout": 90,
        "backup_aws_endpoint_url": endpoint,
        "backup_aws_region": "us-east-1",
        # These hosts cannot reach the emulator on the controller's 127.0.0.1: the controller uploads.
        "backup_aws_from": "controller",
    }
    hosts = {host: hostkit.host_vars(ssh_port)}
    inventory.write_text(yaml.safe_dump({"webapp": {"hosts": hosts, "vars": {**base, **group_vars}}}))
    site = Site(inventory, aws_env(endpoint))
    try:
        site.play("configure.yml")
        site.play("deploy.yml")
        hostkit.wait_healthy(f"http://127.0.0.1:{app_port}", timeout=90)
        hostkit.authorize(f"http://127.0.0.1:{app_port}", host)  # writes need a token
        yield site
    finally:
        hostkit.host_down(host)
