"""An existing backup bucket is checked before anything changes: one with every setting is used as it is;
one that deviates stops provision.yml with every deviation listed, before any other resource exists and
before anything is uploaded; with ec2_instance_backup_bucket_fix the role applies its settings and keeps
the bucket's own policy statements and lifecycle rules. Against the emulator, environment "bucket-test"."""

from __future__ import annotations

import json

import pytest
from aws_helpers import aws_client, ec2_client, provision_vars, run_playbook
from botocore.exceptions import ClientError
from support.hostkit import ROOT as REPO

pytestmark = pytest.mark.slow

ENVIRONMENT = "bucket-test"
THEIR_STATEMENT = {
    "Sid": "AuditorsRead",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::{bucket}/*",
}
THEIR_RULE = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 400}}


def their_statement(bucket: str) -> dict:
    return {**THEIR_STATEMENT, "Resource": THEIR_STATEMENT["Resource"].format(bucket=bucket)}


def deviating_bucket(s3, name: str) -> None:
    """A bucket as someone made it by hand: no public access block, no default encryption, versioning
    suspended, a policy and a lifecycle rule of its own."""
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [their_statement(name)]})
    )
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [THEIR_RULE]})


def compliant_bucket(s3, name: str) -> None:
    """A bucket made by hand with everything the backups need (its own statement ids and rule)."""
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"], True
        ),
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    tls = {
        "Sid": "OnlyTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls]}))
    whole = {
        "ID": "everything",
        "Filter": {},
        "Status": "Enabled",
        "Expiration": {"Days": 35},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [whole]})


def bucket_state(s3, name: str) -> dict:
    return {
        "policy": s3.get_bucket_policy(Bucket=name)["Policy"],
        "rules": s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"],
        "versioning": s3.get_bucket_versioning(Bucket=name).get("Status"),
    }


@pytest.fixture(scope="module")
def s3(moto_endpoint: str):
    return aws_client("s3", moto_endpoint)


def test_a_deviating_bucket_stops_provision_before_any_change_naming_every_deviation(
    moto_endpoint, ssh_key, inventory, workdir, s3
):
    name = "hand-made-backups"
    deviating_bucket(s3, name)
    before = bucket_state(s3, name)
    variables = provision_vars(moto_endpoint, ssh_key, ENVIRONMENT, ec2_instance_backup_bucket=name)
    run = run_playbook(REPO / "playbooks" / "provision.yml", inventory, workdir, variables)
    assert run.rc != 0
    message = " ".join(run.output.split())
    for phrase in (
        "nothing was changed and nothing uploaded",
        f"Bucket {name}: Block Public Access is off",
        f"Bucket {name}: it has no default encryption",
        f"Bucket {name}: versioning is Suspended",
        f"Bucket {name}: its policy does not deny requests without TLS",
        f"Bucket {name}: no enabled lifecycle rule covering 'webapp/{ENVIRONMENT}/'",
        "-e ec2_instance_backup_bucket_fix=true",
    ):
        assert phrase in message, phrase
    assert bucket_state(s3, name) == before
    # Nothing else was made either: the bucket check is the first step that could change anything.
    iam = aws_client("iam", moto_endpoint)
    assert f"webapp-{ENVIRONMENT}-instance" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    groups = ec2_client(moto_endpoint).describe_security_groups()["SecurityGroups"]
    assert f"webapp-{ENVIRONMENT}" not in [g["GroupName"] for g in groups]
    assert not [
        t for t in aws_client("sns", moto_endpoint).list_topics()["Topics"] if ENVIRONMENT in t["TopicArn"]
    ]


def test_the_fix_applies_the_settings_and_keeps_the_buckets_own_statements_and_rules(
    moto_endpoint, inventory, workdir, s3
):
    name = "hand-made-backups-fixed"
    deviating_bucket(s3, name)
    variables = {
        "ec2_instance_endpoint_url": moto_endpoint,
        "ec2_instance_environment": ENVIRONMENT,
        "ec2_instance_backup_bucket": name,
        "ec2_instance_backup_bucket_fix": True,
        "ec2_instance_user_data_dest": str(workdir / "user-data.sh"),
        "app_env": {"SECRET_KEY": "bucket-test-secret"},
    }
    run = run_playbook(REPO / "playbooks" / "render-user-data.yml", inventory, workdir, variables)
    assert run.rc == 0, run.output[-4000:]
    assert "Applying the backup settings to the existing bucket" in " ".join(run.output.split())
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
    (rule,) = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    statements = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["AuditorsRead", "DenyInsecureTransport"]
    assert statements[0] == their_statement(name)
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    assert set(rules) == {"logs", f"webapp-{ENVIRONMENT}-backup-expiry"}
    assert rules["logs"]["Expiration"] == {"Days": 400}
    # A bucket the role did not create keeps its tags (it had none).
    with pytest.raises(ClientError, match="NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket=name)

    again = run_playbook(REPO / "playbooks" / "render-user-data.yml", inventory, workdir, variables)
    assert again.rc == 0, again.output[-4000:]
    assert "Applying the backup settings" not in again.output
    assert again.recap["changed"] == 0, again.output[-4000:]


def test_a_bucket_with_every_setting_is_used_as_it_is(moto_endpoint, inventory, workdir, s3):
    name = "hand-made-backups-good"
    compliant_bucket(s3, name)
    before = bucket_state(s3, name)
    variables = {
        "ec2_instance_endpoint_url": moto_endpoint,
        "ec2_instance_environment": f"{ENVIRONMENT}-good",
        "ec2_instance_backup_bucket": name,
        "ec2_instance_user_data_dest": str(workdir / "user-data-good.sh"),
        "app_env": {"SECRET_KEY": "bucket-test-secret"},
    }
    run = run_playbook(REPO / "playbooks" / "render-user-data.yml", inventory, workdir, variables)
    assert run.rc == 0, run.output[-4000:]
    assert "TASK [ec2_instance : Set Block Public Access" in run.output
    assert (
        "skipping"
        in run.output.split("TASK [ec2_instance : Set Block Public Access", 1)[1].split("TASK", 1)[0]
    )
    assert bucket_state(s3, name) == before
