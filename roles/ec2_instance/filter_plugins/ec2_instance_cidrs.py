# Filter plugins of the ec2_instance role: CIDR checks for its preflight, with the standard library's
# ipaddress (ansible.utils.ipaddr would need netaddr, which the controller does not carry).
from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: ec2_instance_cidr_problems
short_description: Explain which entries of a list are not usable security group CIDRs
description:
  - Returns one sentence per entry that AWS would refuse or misread as a security group source,
    saying what to write instead; an empty list means every entry is fine.
  - Entries must be strings in CIDR notation (address/prefix), IPv4 or IPv6, without host bits.
options:
  _input:
    description: The CIDR strings to check.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Check the SSH sources
  ansible.builtin.assert:
    that: ec2_instance_ssh_cidrs | ec2_instance_cidr_problems | length == 0
    fail_msg: "{{ ec2_instance_ssh_cidrs | ec2_instance_cidr_problems | join('; ') }}"
"""

RETURN = r"""
_value:
  description: One sentence per unusable entry (plus ec2_instance_world_cidrs, the entries open to everyone).
  type: list
  elements: str
"""


def _check_list(cidrs: Any, name: str) -> list[Any]:
    if isinstance(cidrs, str) or not isinstance(cidrs, list | tuple):
        raise AnsibleFilterError(
            f"{name}: expected a list of CIDR strings, got {type(cidrs).__name__}; write it as a YAML list"
        )
    return list(cidrs)


def cidr_problem(entry: Any) -> str | None:
    """Why entry is not a usable CIDR, or None when it is."""
    if not isinstance(entry, str):
        return f"{entry!r} is of type {type(entry).__name__}, expected a CIDR string such as 203.0.113.7/32"
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return f"{entry!r} is not an IPv4 or IPv6 CIDR; expected e.g. 203.0.113.0/24 or 2001:db8::/64"
    if "/" not in entry:
        return f"{entry!r} has no prefix length; write {network.with_prefixlen} for this one address"
    if network.network_address != ipaddress.ip_interface(entry).ip:
        return f"{entry!r} has host bits set; write the network address {network.with_prefixlen}"
    return None


def ec2_instance_cidr_problems(cidrs: Any) -> list[str]:
    """One sentence per entry of cidrs that is not a usable CIDR."""
    problems = (cidr_problem(entry) for entry in _check_list(cidrs, "ec2_instance_cidr_problems"))
    return [problem for problem in problems if problem]


def ec2_instance_world_cidrs(cidrs: Any) -> list[str]:
    """The valid entries of cidrs that match every address (prefix length 0)."""
    world = []
    for entry in _check_list(cidrs, "ec2_instance_world_cidrs"):
        if cidr_problem(entry) is None and ipaddress.ip_network(entry).prefixlen == 0:
            world.append(entry)
    return world


class FilterModule:
    def filters(self) -> dict:
        return {
            "ec2_instance_cidr_problems": ec2_instance_cidr_problems,
            "ec2_instance_world_cidrs": ec2_instance_world_cidrs,
        }
