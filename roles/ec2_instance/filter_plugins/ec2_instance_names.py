# Filter plugins of the ec2_instance role: the inventory values its preflight checks before any AWS call
# (the backup bucket's name, the alarm e-mail address, the SSM parameter path), each explained in a
# sentence that says what to write instead.
from __future__ import annotations

import ipaddress
import re
from typing import Any

DOCUMENTATION = r"""
name: ec2_instance_bucket_name_problems
short_description: Explain why a string is not a usable S3 bucket name
description:
  - Returns one sentence per rule of S3's naming rules for general purpose buckets that the name breaks,
    saying what to write instead; an empty list means the name is fine.
  - Names with dots are refused too: S3 allows them, but TLS to a dotted name fails the certificate
    check with virtual-hosted addressing, and the bucket policy this role writes denies every request
    without TLS.
options:
  _input:
    description: The bucket name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check the bucket name
  ansible.builtin.assert:
    that: ec2_instance_backup_bucket | ec2_instance_bucket_name_problems | length == 0
    fail_msg: "{{ ec2_instance_backup_bucket | ec2_instance_bucket_name_problems | join(' ') }}"
"""

RETURN = r"""
_value:
  description:
    - One sentence per broken rule; ec2_instance_email_problems and ec2_instance_parameter_path_problems
      return the same for an e-mail address and a parameter path.
  type: list
  elements: str
"""

_BUCKET_CHARS = re.compile(r"[a-z0-9.-]*")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# One address, as SNS takes it for an e-mail subscription: no display name, no list.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_PATH_CHARS = re.compile(r"[A-Za-z0-9_./-]*")
# SSM: at most 15 levels in a parameter's name; names starting with aws or ssm are reserved.
_MAX_PATH_LEVELS = 15


def ec2_instance_bucket_name_problems(name: Any) -> list[str]:
    """One sentence per S3 naming rule that name breaks."""
    if not isinstance(name, str):
        return [f"the bucket name must be a string, got {type(name).__name__}"]
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append(f"bucket name {name!r} has {len(name)} characters; S3 needs 3 to 63")
    if not _BUCKET_CHARS.fullmatch(name):
        problems.append(
            f"bucket name {name!r} may hold only lowercase letters, digits and hyphens "
            f"(write {_suggest(name)!r})"
        )
    if "." in name:
        problems.append(
            f"bucket name {name!r} has a dot: TLS to a dotted bucket name fails the certificate check, "
            "and the bucket only accepts TLS; use hyphens instead"
        )
    if name and not (name[0].isalnum() and name[-1].isalnum()):
        problems.append(f"bucket name {name!r} must start and end with a lowercase letter or a digit")
    if _is_ip_address(name):
        problems.append(f"bucket name {name!r} is formatted as an IP address, which S3 refuses")
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            problems.append(f"bucket name {name!r} starts with {prefix!r}, which S3 reserves")
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            problems.append(f"bucket name {name!r} ends with {suffix!r}, which S3 reserves")
    return problems


def _suggest(name: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-") or "backups"


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def ec2_instance_email_problems(address: Any) -> list[str]:
    """Why address is not one e-mail address SNS can subscribe; [] when it is."""
    if not isinstance(address, str):
        return [f"the alarm e-mail must be a string, got {type(address).__name__}"]
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        return [
            f"{address!r} is not one e-mail address; write a single address such as ops@example.com "
            "(no name, no list: one topic subscription per address)"
        ]
    return []


def ec2_instance_parameter_path_problems(path: Any, project: str, environment: str) -> list[str]:
    """Why path is not a parameter path under /<project>/<environment>/; [] when it is."""
    if not isinstance(path, str):
        return [f"the parameter path must be a string, got {type(path).__name__}"]
    root = f"/{project}/{environment}/"
    problems = []
    if not path.startswith(root):
        problems.append(
            f"parameter path {path!r} is outside this project's {root!r}: the instance may read only its own "
            f"settings, so write {root!r} or a path below it"
        )
    if not path.endswith("/"):
        problems.append(f"parameter path {path!r} must end with '/'")
    if not _PATH_CHARS.fullmatch(path) or "//" in path:
        problems.append(
            f"parameter path {path!r} may hold only letters, digits and . _ - / (no empty level '//')"
        )
    if path.count("/") - 1 >= _MAX_PATH_LEVELS:
        problems.append(f"parameter path {path!r} is deeper than SSM's {_MAX_PATH_LEVELS} levels")
    if re.match(r"/?(aws|ssm)", path, re.I):
        problems.append(f"parameter path {path!r} starts with aws or ssm, which SSM reserves")
    return problems


class FilterModule:
    def filters(self) -> dict:
        return {
            "ec2_instance_bucket_name_problems": ec2_instance_bucket_name_problems,
            "ec2_instance_email_problems": ec2_instance_email_problems,
            "ec2_instance_parameter_path_problems": ec2_instance_parameter_path_problems,
        }
