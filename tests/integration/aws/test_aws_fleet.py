"""A fleet against the emulator: provision.yml with ec2_instance_count 2 and app_database postgres makes two
instances in two availability zones, an Application Load Balancer (its own security group, the only
source the instances admit on the app port; a target group health-checking /health holding exactly
the instances; HTTP, or HTTPS with the domain's certificate and port 80 redirecting) and an RDS
PostgreSQL instance (encrypted, not publicly accessible, admitting the instances' group only, automated
backups, Multi-AZ as asked). A second run changes nothing; the master password is never printed.
backup.yml snapshots the database; restore.yml restores a snapshot into a new instance; teardown.yml
deletes the load balancer and keeps the database. The tests run in file order on one emulator."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aws_helpers import instances, run_playbook
from support.aws import aws_client
from support.hostkit import ROOT as REPO

pytestmark = pytest.mark.slow

ENVIRONMENT = "fleet-test"
NAME = f"webapp-{ENVIRONMENT}"
PASSWORD = f"rds-{uuid.uuid4().hex}"
PLAYBOOKS = REPO / "playbooks"


@pytest.fixture(scope="module")
def fleet_vars(variables: dict[str, object]) -> dict[str, object]:
    return {
        **variables,
        "ec2_instance_count": 2,
        "app_database": "postgres",
        "rds_master_password": PASSWORD,
        "rds_backup_retention_days": 9,
        # moto describes no StorageThroughput, which rds_instance reads to update a gp3 instance.
        "rds_storage_type": "gp2",
    }


@pytest.fixture(scope="module")
def first(inventory: Path, workdir: Path, fleet_vars: dict[str, object]):
    run = run_playbook(PLAYBOOKS / "provision.yml", inventory, workdir, fleet_vars)
    assert run.rc == 0, run.output[-5000:]
    return run


def members(ec2) -> list[dict]:
    live = [i for i in instances(ec2, Environment=ENVIRONMENT) if i["State"]["Name"] == "running"]
    return sorted(live, key=lambda i: {t["Key"]: t["Value"] for t in i["Tags"]}["Name"])


def test_two_instances_in_two_zones_with_their_own_names(first, ec2):
    found = members(ec2)
    names = [{t["Key"]: t["Value"] for t in i["Tags"]}["Name"] for i in found]
    assert names == ["webapp", "webapp-2"]
    assert len({i["Placement"]["AvailabilityZone"] for i in found}) == 2
    assert len({i["SecurityGroups"][0]["GroupId"] for i in found}) == 1, (
        "the members share one security group"
    )
    addresses = aws_client("ec2", ec2.meta.endpoint_url).describe_addresses()["Addresses"]
    assert {a.get("InstanceId") for a in addresses} >= {i["InstanceId"] for i in found}


def test_the_app_port_admits_the_load_balancer_only(first, ec2, moto_endpoint: str):
    elbv2 = aws_client("elbv2", moto_endpoint)
    lb = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    alb_group = lb["SecurityGroups"][0]
    group_id = members(ec2)[0]["SecurityGroups"][0]["GroupId"]
    rules = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    app = [r for r in rules if r["FromPort"] == 8000]
    assert len(app) == 1 and not app[0]["IpRanges"] and not app[0].get("Ipv6Ranges")
    assert [p["GroupId"] for p in app[0]["UserIdGroupPairs"]] == [alb_group]
    alb_rules = ec2.describe_security_groups(GroupIds=[alb_group])["SecurityGroups"][0]["IpPermissions"]
    assert [(r["FromPort"], [i["CidrIp"] for i in r["IpRanges"]]) for r in alb_rules] == [(80, ["0.0.0.0/0"])]


def test_the_load_balancer_spans_two_zones_and_health_checks_every_instance(first, ec2, moto_endpoint: str):
    elbv2 = aws_client("elbv2", moto_endpoint)
    lb = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert len({z["ZoneName"] for z in lb["AvailabilityZones"]}) >= 2
    group = elbv2.describe_target_groups(Names=[NAME])["TargetGroups"][0]
    assert (group["Port"], group["HealthCheckPath"], group["Matcher"]["HttpCode"]) == (8000, "/health", "200")
    targets = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
    assert {t["Target"]["Id"] for t in targets} == {i["InstanceId"] for i in members(ec2)}
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "30"} in attributes
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert [(x["Protocol"], x["Port"], x["DefaultActions"][0]["Type"]) for x in listeners] == [
        ("HTTP", 80, "forward")
    ]
    assert "The load balancer http://" in first.output


def test_the_database_is_encrypted_private_and_admits_the_instances_only(first, ec2, moto_endpoint: str):
    rds = aws_client("rds", moto_endpoint)
    db = rds.describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"][0]
    assert (db["Engine"], db["StorageEncrypted"], db["PubliclyAccessible"]) == ("postgres", True, False)
    assert (db["BackupRetentionPeriod"], db["MultiAZ"], db["DeletionProtection"]) == (9, False, True)
    assert db["DBName"] == "webapp" and db["MasterUsername"] == "webapp"
    (group_id,) = [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]]
    rules = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    instance_group = members(ec2)[0]["SecurityGroups"][0]["GroupId"]
    assert [(r["FromPort"], [p["GroupId"] for p in r["UserIdGroupPairs"]], r["IpRanges"]) for r in rules] == [
        (5432, [instance_group], [])
    ]
    assert len(db["DBSubnetGroup"]["Subnets"]) >= 2
    assert f"The database is {db['Endpoint']['Address']}:5432" in first.output


def test_the_master_password_is_never_printed(first):
    assert PASSWORD not in first.output


def test_a_second_run_changes_nothing(first, inventory: Path, workdir: Path, fleet_vars):
    again = run_playbook(PLAYBOOKS / "provision.yml", inventory, workdir, fleet_vars)
    assert again.rc == 0, again.output[-4000:]
    assert again.recap["changed"] == 0, again.output[-6000:]
    assert PASSWORD not in again.output


def test_https_with_a_certificate_and_multi_az(
    first, inventory: Path, workdir: Path, fleet_vars, moto_endpoint
):
    acm = aws_client("acm", moto_endpoint)
    arn = acm.request_certificate(DomainName="app.example.com", ValidationMethod="DNS")["CertificateArn"]
    https = {**fleet_vars, "app_domain": "app.example.com", "alb_certificate_arn": arn, "rds_multi_az": True}
    run = run_playbook(PLAYBOOKS / "provision.yml", inventory, workdir, https)
    assert run.rc == 0, run.output[-4000:]
    elbv2 = aws_client("elbv2", moto_endpoint)
    lb = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    listeners = {
        x["Port"]: x for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    }
    assert (
        listeners[443]["Protocol"] == "HTTPS" and listeners[443]["Certificates"][0]["CertificateArn"] == arn
    )
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert "The load balancer https://app.example.com" in run.output
    db = aws_client("rds", moto_endpoint).describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"][0]
    assert db["MultiAZ"] is True


def test_backup_takes_an_rds_snapshot(first, inventory: Path, workdir: Path, fleet_vars, moto_endpoint):
    run = run_playbook(PLAYBOOKS / "backup.yml", inventory, workdir, fleet_vars)
    assert run.rc == 0, run.output[-4000:]
    snapshots = aws_client("rds", moto_endpoint).describe_db_snapshots(
        DBInstanceIdentifier=NAME, SnapshotType="manual"
    )["DBSnapshots"]
    assert len(snapshots) == 1 and snapshots[0]["Encrypted"]
    assert f"Took the RDS snapshot {snapshots[0]['DBSnapshotIdentifier']}" in " ".join(run.output.split())


def test_restore_makes_a_new_instance_from_a_snapshot(
    first, inventory: Path, workdir: Path, fleet_vars, moto_endpoint
):
    rds = aws_client("rds", moto_endpoint)
    manual = rds.describe_db_snapshots(DBInstanceIdentifier=NAME, SnapshotType="manual")["DBSnapshots"]
    snapshot = manual[0]["DBSnapshotIdentifier"]
    restore = {**fleet_vars, "rds_restore_snapshot": snapshot, "rds_restore_identifier": f"{NAME}-b"}
    run = run_playbook(PLAYBOOKS / "restore.yml", inventory, workdir, restore, "-l", "localhost")
    # restore.yml needs the instances' security group: provision.yml first, in the same command.
    assert run.rc != 0 and "Run playbooks/provision.yml first in the same command" in " ".join(
        run.output.split()
    )
    both = workdir / "provision-then-restore.yml"
    both.write_text(
        f"- ansible.builtin.import_playbook: {PLAYBOOKS / 'provision.yml'}\n"
        f"- ansible.builtin.import_playbook: {PLAYBOOKS / 'restore.yml'}\n"
    )
    run = run_playbook(both, inventory, workdir, restore, "-l", "localhost")
    assert run.rc == 0, run.output[-4000:]
    new = rds.describe_db_instances(DBInstanceIdentifier=f"{NAME}-b")["DBInstances"][0]
    old = rds.describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"][0]
    assert new["StorageEncrypted"] and not new["PubliclyAccessible"]
    assert new["VpcSecurityGroups"] == old["VpcSecurityGroups"]
    said = " ".join(run.output.split())
    assert (
        f"into the new instance {NAME}-b" in said
        and f"set rds_identifier: {NAME}-b in group_vars/all" in said
    ), said[said.find("TASK [Say what follows") :][:1500]


def test_teardown_deletes_the_load_balancer_and_keeps_the_database(
    first, inventory: Path, workdir: Path, fleet_vars, ec2, moto_endpoint
):
    run = run_playbook(
        PLAYBOOKS / "teardown.yml", inventory, workdir, {**fleet_vars, "confirm_teardown": "yes"}
    )
    assert run.rc == 0, run.output[-4000:]
    assert members(ec2) == []
    elbv2 = aws_client("elbv2", moto_endpoint)
    assert [
        lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["LoadBalancerName"] == NAME
    ] == []
    assert aws_client("rds", moto_endpoint).describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"]
