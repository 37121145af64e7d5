"""How an existing bucket deviates from what the offsite backups need, read from s3_bucket_info's facts
(the role's filter_plugins/ec2_instance_bucket.py), and the TLS-only statement merged into a policy."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from role_filters import load

bucket = load("ec2_instance_bucket")

NAME = "webapp-production-backups"
PREFIX = "webapp/production/"
TLS = {
    "Sid": "Theirs",
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": ["s3:*"],
    "Resource": [f"arn:aws:s3:::{NAME}/*", f"arn:aws:s3:::{NAME}"],
    "Condition": {"Bool": {"aws:SecureTransport": False}},
}


def good() -> dict:
    """A bucket as s3_bucket_info shows one that has everything."""
    return {
        "name": NAME,
        "public_access_block": {
            "PublicAccessBlockConfiguration": dict.fromkeys(bucket.BLOCK_PUBLIC_ACCESS, True)
        },
        "bucket_encryption": {
            "ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            }
        },
        "bucket_versioning": {"Status": "Enabled"},
        "bucket_policy": {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [TLS]})},
        "bucket_lifecycle_configuration": {
            "Rules": [
                {
                    "ID": "all",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "webapp/"},
                    "Expiration": {"Days": 35},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                }
            ]
        },
    }


def deviations(facts: dict) -> list[str]:
    return bucket.ec2_instance_bucket_deviations(facts, PREFIX, 35, 7)


def test_a_bucket_with_everything_passes():
    assert deviations(good()) == []


def test_a_bare_bucket_reports_every_deviation_at_once():
    bare = {
        "name": NAME,
        "public_access_block": {},
        "bucket_encryption": {},
        "bucket_versioning": {},
        "bucket_policy": {},
        "bucket_lifecycle_configuration": {},
    }
    found = deviations(bare)
    assert len(found) == 5
    assert all(line.startswith(f"Bucket {NAME}: ") for line in found)
    text = " ".join(found)
    for phrase in (
        "Block Public Access is off for BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, "
        "RestrictPublicBuckets",
        "no default encryption",
        "versioning is never enabled",
        "does not deny requests without TLS",
        "no rule covers the prefix",
    ):
        assert phrase in text


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (
            lambda b: b["public_access_block"]["PublicAccessBlockConfiguration"].update(
                IgnorePublicAcls=False
            ),
            "Block Public Access is off for IgnorePublicAcls;",
        ),
        (lambda b: b["bucket_versioning"].update(Status="Suspended"), "versioning is Suspended"),
        (
            lambda b: b["bucket_policy"].update(
                Policy=json.dumps({"Statement": [{**TLS, "Effect": "Allow"}]})
            ),
            "does not deny requests without TLS",
        ),
        (
            lambda b: b["bucket_policy"].update(
                Policy=json.dumps({"Statement": [{**TLS, "Resource": f"arn:aws:s3:::{NAME}/*"}]})
            ),
            "does not deny requests without TLS",
        ),
        (
            lambda b: b["bucket_policy"].update(Policy=json.dumps({"Statement": [{**TLS, "Condition": {}}]})),
            "does not deny requests without TLS",
        ),
        (
            lambda b: b["bucket_lifecycle_configuration"]["Rules"][0].update(Status="Disabled"),
            "no rule covers",
        ),
        (
            lambda b: b["bucket_lifecycle_configuration"]["Rules"][0].update(Filter={"Prefix": "logs/"}),
            "no rule covers",
        ),
        (
            lambda b: b["bucket_lifecycle_configuration"]["Rules"][0].pop("NoncurrentVersionExpiration"),
            "rule all expires objects after 35 and noncurrent versions after never days",
        ),
        (
            lambda b: b["bucket_lifecycle_configuration"]["Rules"][0].update(Expiration={"Days": 400}),
            "rule all expires objects after 400 and noncurrent versions after 7 days",
        ),
        (
            lambda b: b["bucket_lifecycle_configuration"]["Rules"][0].update(
                Filter={"And": {"Prefix": "webapp/", "Tags": [{"Key": "k", "Value": "v"}]}}
            ),
            "no rule covers",
        ),
    ],
)
def test_each_deviation_alone_is_reported_alone(change, phrase):
    facts = good()
    change(facts)
    (found,) = deviations(facts)
    assert phrase in found


def test_a_rule_for_the_whole_bucket_covers_the_prefix():
    facts = good()
    facts["bucket_lifecycle_configuration"]["Rules"][0]["Filter"] = {}
    assert deviations(facts) == []
    facts["bucket_lifecycle_configuration"]["Rules"][0].pop("Filter")
    assert deviations(facts) == []


def test_a_non_bucket_is_refused():
    with pytest.raises(AnsibleFilterError, match="expected one bucket"):
        bucket.ec2_instance_bucket_deviations([], PREFIX, 35, 7)


def test_the_tls_statement_joins_the_other_statements_and_replaces_its_own():
    theirs = {
        "Sid": "ReadOnlyForAudit",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::1:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{NAME}/*",
    }
    stale = {"Sid": bucket.TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "x"}
    merged = bucket.ec2_instance_tls_only_policy(
        json.dumps({"Version": "2008-10-17", "Statement": [theirs, stale]}), NAME
    )
    assert merged["Version"] == "2008-10-17"
    assert merged["Statement"][0] == theirs
    (ours,) = [s for s in merged["Statement"] if s["Sid"] == bucket.TLS_SID]
    assert ours["Resource"] == [f"arn:aws:s3:::{NAME}", f"arn:aws:s3:::{NAME}/*"]
    # What it writes is what the check accepts.
    facts = {**good(), "bucket_policy": {"Policy": json.dumps(merged)}}
    assert deviations(facts) == []


def test_the_tls_statement_alone_for_a_bucket_without_policy():
    for empty in ("", "{}", {}):
        policy = bucket.ec2_instance_tls_only_policy(empty, NAME, "aws-cn")
        assert [s["Sid"] for s in policy["Statement"]] == [bucket.TLS_SID]
        assert policy["Statement"][0]["Resource"][0] == f"arn:aws-cn:s3:::{NAME}"
