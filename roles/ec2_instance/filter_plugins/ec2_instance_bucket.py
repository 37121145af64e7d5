# Filter plugins of the ec2_instance role: how an existing S3 bucket differs from what the offsite
# backups need, read from amazon.aws.s3_bucket_info, and the bucket policy that denies requests without TLS.
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: ec2_instance_bucket_deviations
short_description: Every way a bucket differs from what the offsite backups need
description:
  - Takes one bucket as amazon.aws.s3_bucket_info returns it (with the public_access_block,
    bucket_encryption, bucket_versioning, bucket_policy and bucket_lifecycle_configuration facts) and
    returns one sentence per deviation, saying what to change; an empty list means the bucket is fine.
  - Checked are Block Public Access (all four settings on), default encryption, versioning enabled,
    a policy statement that denies every request without TLS, and an enabled lifecycle rule covering the
    backup prefix that expires current objects after I(expire_days) and noncurrent versions after
    I(noncurrent_days).
options:
  _input:
    description: One element of the buckets list of amazon.aws.s3_bucket_info.
    type: dict
    required: true
  prefix:
    description: The key prefix the backups go under.
    type: str
    required: true
  expire_days:
    description: Days after which backups expire.
    type: int
    required: true
  noncurrent_days:
    description: Days after which noncurrent versions of backups expire.
    type: int
    required: true
  partition:
    description: The AWS partition of the bucket's ARN.
    type: str
    default: aws
"""

EXAMPLES = r"""
- name: Report every deviation of the existing bucket
  ansible.builtin.assert:
    that: __deviations | length == 0
    fail_msg: "{{ __deviations | join(' ') }}"
  vars:
    __deviations: "{{ __found.buckets[0] | ec2_instance_bucket_deviations('webapp/production/', 35, 7) }}"
"""

RETURN = r"""
_value:
  description: One sentence per deviation (ec2_instance_tls_only_policy returns a policy document instead).
  type: list
  elements: str
"""

BLOCK_PUBLIC_ACCESS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ENCRYPTION_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
TLS_SID = "DenyInsecureTransport"


def ec2_instance_bucket_deviations(
    bucket: Mapping[str, Any], prefix: str, expire_days: int, noncurrent_days: int, partition: str = "aws"
) -> list[str]:
    """One sentence per way bucket differs from what the backups need."""
    if not isinstance(bucket, Mapping) or "name" not in bucket:
        raise AnsibleFilterError(
            "ec2_instance_bucket_deviations: expected one bucket of amazon.aws.s3_bucket_info's "
            f"buckets list, got {type(bucket).__name__}"
        )
    name = bucket["name"]
    checks = (
        _public_access(bucket),
        _encryption(bucket),
        _versioning(bucket),
        _tls_policy(bucket, f"arn:{partition}:s3:::{name}"),
        _lifecycle(bucket, prefix, int(expire_days), int(noncurrent_days)),
    )
    return [f"Bucket {name}: {problem}" for problem in checks if problem]


def _public_access(bucket: Mapping[str, Any]) -> str | None:
    block = bucket.get("public_access_block") or {}
    config = block.get("PublicAccessBlockConfiguration", block)
    off = [flag for flag in BLOCK_PUBLIC_ACCESS if config.get(flag) is not True]
    if off:
        return f"Block Public Access is off for {', '.join(off)}; turn all four settings on."
    return None


def _encryption(bucket: Mapping[str, Any]) -> str | None:
    config = (bucket.get("bucket_encryption") or {}).get("ServerSideEncryptionConfiguration") or {}
    defaults = [rule.get("ApplyServerSideEncryptionByDefault") or {} for rule in config.get("Rules", [])]
    algorithms = [default.get("SSEAlgorithm") for default in defaults]
    if not any(algorithm in ENCRYPTION_ALGORITHMS for algorithm in algorithms):
        return "it has no default encryption; set SSE-S3 (AES256) or SSE-KMS as its default."
    return None


def _versioning(bucket: Mapping[str, Any]) -> str | None:
    status = (bucket.get("bucket_versioning") or {}).get("Status") or "never enabled"
    if status != "Enabled":
        return f"versioning is {status}; enable it, so that an overwritten or deleted backup can come back."
    return None


def _policy_statements(bucket: Mapping[str, Any]) -> list[dict]:
    policy = (bucket.get("bucket_policy") or {}).get("Policy") or "{}"
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _denies_insecure_transport(statement: Mapping[str, Any], arn: str) -> bool:
    principal = statement.get("Principal")
    aws_principal = principal.get("AWS") if isinstance(principal, dict) else None
    if principal != "*" and _as_list(aws_principal) != ["*"]:
        return False
    secure = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
    resources = set(_as_list(statement.get("Resource")))
    return (
        statement.get("Effect") == "Deny"
        and {"s3:*", "*"} & set(_as_list(statement.get("Action")))
        and str(secure).lower() == "false"
        and {arn, f"{arn}/*"} <= resources
    )


def _tls_policy(bucket: Mapping[str, Any], arn: str) -> str | None:
    if not any(_denies_insecure_transport(statement, arn) for statement in _policy_statements(bucket)):
        return (
            "its policy does not deny requests without TLS; add a statement denying s3:* on the bucket "
            "and its objects when aws:SecureTransport is false."
        )
    return None


def _rule_prefix(rule: Mapping[str, Any]) -> str | None:
    """The prefix a lifecycle rule covers ('' = the whole bucket); None when it filters on more."""
    if "Filter" not in rule:
        return rule.get("Prefix", "")
    rule_filter = rule["Filter"] or {}
    if set(rule_filter) <= {"Prefix"}:
        return rule_filter.get("Prefix", "")
    return None


def _lifecycle(bucket: Mapping[str, Any], prefix: str, expire_days: int, noncurrent_days: int) -> str | None:
    rules = (bucket.get("bucket_lifecycle_configuration") or {}).get("Rules", [])
    covering = [
        rule
        for rule in rules
        if rule.get("Status") == "Enabled"
        and _rule_prefix(rule) is not None
        and prefix.startswith(_rule_prefix(rule))
    ]
    wanted = (expire_days, noncurrent_days)
    found = [
        (
            (rule.get("Expiration") or {}).get("Days"),
            (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
        )
        for rule in covering
    ]
    if wanted in found:
        return None
    have = "; ".join(
        f"rule {rule.get('ID', '?')} expires objects after {days[0] or 'never'} and noncurrent "
        f"versions after {days[1] or 'never'} days"
        for rule, days in zip(covering, found, strict=True)
    )
    return (
        f"no enabled lifecycle rule covering {prefix!r} expires objects after {expire_days} days and "
        f"noncurrent versions after {noncurrent_days} days ({have or 'no rule covers the prefix'}); add "
        "one, or set ec2_instance_backup_expire_days and ec2_instance_backup_noncurrent_expire_days to "
        "what the bucket does."
    )


def ec2_instance_tls_only_policy(existing: Any, name: str, partition: str = "aws") -> dict:
    """existing policy (JSON text, dict or empty) with this role's TLS-only statement in place of any
    earlier statement of the same Sid; the other statements are kept as they are."""
    if isinstance(existing, str):
        document = json.loads(existing) if existing.strip() else {}
    elif isinstance(existing, Mapping):
        document = dict(existing)
    else:
        raise AnsibleFilterError(
            "ec2_instance_tls_only_policy: expected a policy as JSON text or a dict, "
            f"got {type(existing).__name__}"
        )
    statements = _as_list(document.get("Statement", []))
    kept = [statement for statement in statements if statement.get("Sid") != TLS_SID]
    ours = {
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:{partition}:s3:::{name}", f"arn:{partition}:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {"Version": document.get("Version", "2012-10-17"), "Statement": [*kept, ours]}


class FilterModule:
    def filters(self) -> dict:
        return {
            "ec2_instance_bucket_deviations": ec2_instance_bucket_deviations,
            "ec2_instance_tls_only_policy": ec2_instance_tls_only_policy,
        }
